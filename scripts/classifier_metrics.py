"""Rule classifier_metrics: a pretrained classifier's metrics, its post-hoc chains' included,
from its saved scores (haframe.score: the functions of every run's evaluation)."""

from haframe.evaluate import Scores
from haframe.fileio import write_json
from haframe.logs import log_to
from haframe.score import score

with log_to(snakemake.log[0]) as log:
    saved = Scores.load(snakemake.input.scores)
    result = score(
        saved.scores,
        saved.targets,
        snakemake.input.hierarchy,
        [str(c) for c in saved.classes],
        "logits",
        snakemake.params.posthoc,
        "tsv",
    )
    write_json(snakemake.output[0], {**saved.record, **result})
    log(f"top-1 error {result['top1_error']:.4f}, mistake severity {result['mistake_severity']:.4f}")
