"""Rule posthoc: one post-hoc chain applied to a run's saved scores (no model, no GPU)."""

from pathlib import Path

from haframe.assets import RunAssets
from haframe.evaluate import SCORE_SPLITS, Scores, apply_chain, write_chain
from haframe.logs import log_to
from haframe.run_status import recorded_failure

i, o, chain = snakemake.input, snakemake.output, snakemake.wildcards.chain
run_dir = Path(o.metrics).parents[1]
with log_to(snakemake.log[0]) as log, recorded_failure(run_dir, f"posthoc {chain}"):
    scores = {split: Scores.load(i[f"scores_{split}"]) for split in SCORE_SPLITS}
    auxiliary = {}
    for key in i.keys():
        if key.startswith("auxiliary_"):
            name, split = key.removeprefix("auxiliary_").rsplit("_", 1)
            auxiliary.setdefault(name, {})[split] = Scores.load(i[key])
    assets = RunAssets.load(hierarchy=i.hierarchy, distances=i.distances, levels=i.levels, haframe=i.haframe, etf=i.etf)
    result = apply_chain(chain, scores, assets, auxiliary)
    write_chain(result, o.metrics, o.ranked)
    test = result["test"]["metrics"]
    log(f"{chain}: top-1 error {test['top1_error']:.2f}%, mistake severity {test['mistake_severity']}")
