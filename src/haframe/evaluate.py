"""Score a trained run, in three steps that are three workflow jobs:

1. ``score_run`` (the only step that loads a model): the run's class scores over the validation
   and test splits, exactly as evaluation ranks them, saved beside its metrics
   (``scores/{split}.npz``, a ``Scores``); an auxiliary model (HiE's coarse one) keeps its own.
2. ``apply_chain``, one per post-hoc chain of the run (e.g. "crm", "hie+crm"): re-ranks the saved
   scores from the leaf distribution softmax(scores) (and its auxiliary models' saved scores) and
   writes the chain's metrics on both splits and its test ranking (``posthoc/{chain}.*``).
3. ``assemble_metrics``: the run's ``metrics.json`` (the base prediction's metrics, each chain's
   under its own key; a tuned protocol's trial also the validation split's, under ``val``: what
   its selection reads) and ``predictions.npz`` (top-k rankings: ``ranked``, ``ranked_<chain>``).

A chain added to a finished study therefore re-reads scores: it loads no model. The metrics that
need the whole ranking (HOPS) are computed from the scores; ``evaluate_run`` runs the three steps
in one process.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import checkpoints, lazy
from .assets import RunAssets, distance_correlation
from .fileio import load_npz, read_json, save_npz, write_json
from .metrics import (
    expected_calibration_error,
    hiercos_level_accuracies,
    hops,
    level_accuracies,
    metrics,
    rank_by_score,
)
from .runs import Control, Evaluation, RunSpec, typed
from .sealed import seal

torch = lazy.module("torch")

TOP_K = 20
SCORE_SPLITS = ("val", "test")  # every evaluation saves both


@dataclass(frozen=True)
class Scores:
    """A model's class scores over one split, as its prediction rule gives them: their softmax is
    the distribution post-hoc rules and calibration read. ``record``: the run (``RunSpec.to_dict``,
    its chains left out), the split, the checkpoint's epoch, how the training images reached the
    model (``data_path``), what ranks the classes (``ranked_by``) and how long the model took to
    score each split (``seconds``, {split: s}, the same in every split's file: MLflow's
    ``evaluation_seconds`` reads whichever file the study keeps)."""

    scores: np.ndarray  # N x C float32
    targets: np.ndarray  # N int64, in the classifier's classes
    classes: np.ndarray  # C names, in the scores' column order
    record: dict
    level_hits: np.ndarray | None = None  # N x depth int8: the method's own per-depth rule (Hier-COS)

    @property
    def run(self) -> RunSpec:
        return RunSpec.from_dict(self.record["run"])

    @property
    def control(self) -> Control | None:
        """The run's control (the rules read its shuffled tree), without rebuilding the run."""
        control = self.record["run"].get("control")
        return typed(Control, control, "run.control") if control else None

    def save(self, path: str | Path) -> None:
        hits = {} if self.level_hits is None else {"level_hits": self.level_hits}
        record = np.array(json.dumps(self.record, sort_keys=True))
        save_npz(path, scores=self.scores, targets=self.targets, classes=self.classes, record=record, **hits)

    @classmethod
    def load(cls, path: str | Path) -> Scores:
        arrays = load_npz(path)
        return cls(
            scores=arrays["scores"],
            targets=arrays["targets"],
            classes=arrays["classes"],
            record=json.loads(str(arrays["record"])),
            level_hits=arrays.get("level_hits"),
        )


# ------------------------------------------------------------------ 1. scores (the model)


def score_run(
    *,
    checkpoint: str | Path,
    assets: RunAssets,
    data: str | Path,
    scores_files: Mapping[str, str | Path],
    threads: int = 1,
    evaluation: Evaluation | None = None,
) -> dict[str, Scores]:
    """Score ``checkpoint`` on each split of ``scores_files`` ({split: file}) of the prepared
    dataset whose ``meta.json`` is ``data``, and save the scores. ``evaluation`` replaces the
    evaluation settings the checkpoint recorded (the workflow's job passes the study's)."""
    from .data.prepared import data_path, read_meta
    from .inference import build_model, place_model
    from .methods import get_method
    from .runtime import select_device, set_threads

    state = checkpoints.load(checkpoint)  # CorruptFile: it changed after training wrote it
    run = dataclasses.replace(RunSpec.from_dict(state["config"]), posthoc=())
    if evaluation is not None:
        run = dataclasses.replace(run, evaluation=evaluation)
    set_threads(threads, run.training.workers)
    device = select_device(run.training.device)
    model_assets = assets.for_model(run.control)  # a control's model knows its shuffled tree
    model = build_model(run, model_assets)
    model.load_state_dict(state["model"])
    place_model(model, run, device)
    method = get_method(run.method)
    record = {
        "run": run.to_dict(),
        "checkpoint_epoch": state["epoch"],
        "data_path": data_path(read_meta(data), run.training.augment_on),
        "ranked_by": method.ranked_by,
    }
    predicted, seconds = {}, {}
    for split in scores_files:
        started = time.perf_counter()
        predicted[split] = _predict(model, run, data, split, device)
        seconds[split] = round(time.perf_counter() - started, 3)
    scored = {}
    for split, path in scores_files.items():
        predictions = predicted[split]
        scored[split] = Scores(
            predictions.scores,
            predictions.targets,
            np.array(method.class_names(assets)),
            {**record, "split": split, "seconds": seconds},
            predictions.level_hits,
        )
        scored[split].save(path)
    return scored


def _predict(model, run: RunSpec, data, split: str, device):
    from .data.loaders import make_loader
    from .inference import predict

    loader = make_loader(
        data,
        split,
        train=False,
        batch_size=run.evaluation.batch_size_on(device.type),
        device=device,
        drop_last=run.evaluation.drop_last,
        workers=run.training.workers,
    )
    return predict(model, loader, device, run.training.precision, run.training.channels_last)


# ------------------------------------------------------------------ 2. post-hoc chains


def apply_chain(
    chain: str,
    scores: Mapping[str, Scores],
    assets: RunAssets,
    auxiliary: Mapping[str, Mapping[str, Scores]] | None = None,
) -> dict[str, dict]:
    """The chain's re-ranking of each split's ``scores``: {split: {"metrics", "ranked"}}.
    ``auxiliary``: {auxiliary model's name: its scores by split}. The rules read the run's
    model assets (a control's shuffled tree); the metrics the true ``assets``."""
    out = {}
    for split, scored in scores.items():
        helpers = {}
        for name, by_split in (auxiliary or {}).items():
            _check_aligned(scored, by_split[split], f"{name} ({chain})")
            helpers[name] = leaf_probabilities(by_split[split].scores)
        metrics, chain_scores = chain_prediction(
            chain,
            scored.scores,
            leaf_probabilities(scored.scores),
            scored.targets,
            assets,
            rule_assets=assets.for_model(scored.control),
            auxiliary=helpers,
        )
        out[split] = {"metrics": metrics, "ranked": rank_by_score(chain_scores, min(TOP_K, assets.num_classes))}
    return out


def chain_prediction(
    chain: str,
    scores: np.ndarray,
    probabilities: np.ndarray,
    targets: np.ndarray,
    assets: RunAssets,
    rule_assets: RunAssets | None = None,
    auxiliary: Mapping[str, np.ndarray] | None = None,
) -> tuple[dict, np.ndarray]:
    """(metrics, scores) of a prediction re-ranked by the chain's rules in order; the rules read
    ``rule_assets`` (default: ``assets``) and ``auxiliary`` ({model name: its probabilities})."""
    from .methods import posthoc_chain

    described = []
    for rule in posthoc_chain(chain):
        extra = (auxiliary or {})[rule.auxiliary.name] if rule.auxiliary else None
        probabilities, scores = rule.apply(probabilities, scores, rule_assets or assets, extra)
        described.append(rule.ranked_by)
    return {
        **prediction_metrics(scores, probabilities, targets, assets),
        "ranked_by": ", then ".join(described),
    }, scores


def write_chain(result: Mapping[str, dict], metrics_file: str | Path, ranked_file: str | Path) -> None:
    """A chain's files: its metrics on every split (JSON) and its test ranking."""
    write_json(metrics_file, {split: entry["metrics"] for split, entry in result.items()})
    save_npz(ranked_file, ranked=result["test"]["ranked"])


def _check_aligned(scored: Scores, helper: Scores, name: str) -> None:
    """An auxiliary model's scores must cover the same images, in the same order."""
    if helper.record["split"] != scored.record["split"] or len(helper.targets) != len(scored.targets):
        raise ValueError(
            f"the auxiliary model {name}'s scores are of split {helper.record['split']!r} with "
            f"{len(helper.targets)} images, the run's of {scored.record['split']!r} with {len(scored.targets)}"
        )


# ------------------------------------------------------------------ 3. the run's metrics


def assemble_metrics(
    scores: Mapping[str, Scores],
    chains: Mapping[str, Mapping[str, str | Path]],
    assets: RunAssets,
    metrics_file: str | Path,
    predictions_file: str | Path,
) -> dict:
    """``metrics.json`` and ``predictions.npz`` of a run from its scores and its chains' files
    ({chain: {"metrics": file, "ranked": file}}, in the run's chain order)."""
    test = scores["test"]
    run = test.run
    chain_metrics = {chain: read_json(files["metrics"]) for chain, files in chains.items()}
    summary = base_metrics(test, assets)
    summary.update({chain: found["test"] for chain, found in chain_metrics.items()})
    trial = {}
    if run.trial:
        validation = {**base_metrics(scores["val"], assets), **{c: found["val"] for c, found in chain_metrics.items()}}
        trial = {"trial": run.trial.to_dict(), "val": _validation(validation)}
    control = (
        {"control": {**dataclasses.asdict(run.control), "distance_correlation": distance_correlation(
            assets.distances, assets.for_model(run.control).distances)}}
        if run.control
        else {}
    )  # fmt: skip
    result = {
        "dataset": run.dataset,
        "variant": run.variant,
        "seed": run.seed,
        "method": run.method,
        "head": run.head,
        "split": "test",
        "checkpoint_epoch": test.record["checkpoint_epoch"],
        "drop_last": run.evaluation.drop_last,
        "data_path": test.record["data_path"],
        **summary,
        **trial,
        **control,
    }
    k = min(TOP_K, assets.num_classes)
    rankings = {f"ranked_{chain}": load_npz(files["ranked"])["ranked"] for chain, files in chains.items()}
    save_npz(predictions_file, targets=test.targets, ranked=rank_by_score(test.scores, k), **rankings)
    write_json(metrics_file, seal(result, predictions_file))
    return result


def base_metrics(scored: Scores, assets: RunAssets) -> dict:
    """Every metric of the model's own prediction, what ranks it, and the method's own per-depth
    accuracies where it has them (Hier-COS; a post-hoc rule re-ranks the leaves only)."""
    summary = {
        **prediction_metrics(scored.scores, leaf_probabilities(scored.scores), scored.targets, assets),
        "ranked_by": scored.record["ranked_by"],
    }
    if scored.level_hits is not None:
        summary.update(hiercos_level_accuracies(scored.level_hits))
    return summary


def _validation(metrics: dict) -> dict:
    """Validation metrics as the test's, their image count named ``n_val``."""
    renamed = {"n_val" if key == "n_test" else key: value for key, value in metrics.items()}
    return {key: _validation(value) if isinstance(value, dict) else value for key, value in renamed.items()}


def prediction_metrics(scores: np.ndarray, probabilities: np.ndarray, targets: np.ndarray, assets: RunAssets) -> dict:
    """Every metric of one prediction: README, "The method" 6's from the top 20, HOPS from the
    full ranking, per-level and full-path accuracy and the calibration from the distribution."""
    D = assets.distances
    ranking = rank_by_score(scores, assets.num_classes)
    result = metrics(ranking[:, :TOP_K], targets, D)
    result["n_test"] = result.pop("n")
    result.update(hops(ranking, targets, D))
    result.update(level_accuracies(probabilities, ranking[:, 0], targets, assets.levels))
    result["ece"] = expected_calibration_error(probabilities, ranking[:, 0], targets)
    return result


def leaf_probabilities(scores: np.ndarray) -> np.ndarray:
    """softmax(scores) over the classes, in float64: the distribution post-hoc rules and calibration read."""
    return torch.softmax(torch.from_numpy(scores).double(), dim=1).numpy()


# ------------------------------------------------------------------ all three at once


def run_files(run_dir: str | Path, chains: Sequence[str]) -> dict:
    """The files the three steps write in a run's directory (the workflow's layout)."""
    run_dir = Path(run_dir)
    return {
        "scores": {split: run_dir / "scores" / f"{split}.npz" for split in SCORE_SPLITS},
        "chains": {
            chain: {"metrics": run_dir / "posthoc" / f"{chain}.json", "ranked": run_dir / "posthoc" / f"{chain}.npz"}
            for chain in chains
        },
    }


def evaluate_run(
    *,
    checkpoint: str | Path,
    assets: RunAssets,
    data: str | Path,
    metrics_file: str | Path,
    predictions_file: str | Path,
    auxiliary: Mapping[str, str | Path] | None = None,
    threads: int = 1,
    chains: Sequence[str] | None = None,
) -> dict:
    """Score, apply every chain and assemble, in one process, into the directory of
    ``metrics_file``; ``auxiliary`` names the checkpoints of the auxiliary models its chains
    need; ``chains``: those the checkpoint recorded unless given."""
    state = checkpoints.load(checkpoint)
    chains = list(RunSpec.from_dict(state["config"]).posthoc if chains is None else chains)
    files = run_files(Path(metrics_file).parent, chains)
    for path in [*files["scores"].values(), *(p for f in files["chains"].values() for p in f.values())]:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    scores = score_run(checkpoint=checkpoint, assets=assets, data=data, scores_files=files["scores"], threads=threads)
    helpers = {}
    for name, path in (auxiliary or {}).items():
        helper_files = run_files(Path(path).parent, [])["scores"]
        for target in helper_files.values():
            target.parent.mkdir(parents=True, exist_ok=True)
        helpers[name] = score_run(checkpoint=path, assets=assets, data=data, scores_files=helper_files, threads=threads)
    for chain, targets in files["chains"].items():
        write_chain(apply_chain(chain, scores, assets, helpers), targets["metrics"], targets["ranked"])
    return assemble_metrics(scores, files["chains"], assets, metrics_file, predictions_file)
