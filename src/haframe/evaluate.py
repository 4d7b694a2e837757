"""Score a trained run on the full test set: metrics.json and ranked predictions (a tuned
protocol's trial also on the validation split, under ``val``: what its selection reads).

The run's method gives the leaf scores that rank the classes (its ``ranked_by``); each
post-hoc chain of the run (e.g. "crm", "hie+crm") re-ranks them from the leaf distribution
softmax(scores) and is scored the same way, under its own key of ``metrics.json``
(``predictions.npz``: ``ranked_<chain>``). Full score matrices are never stored: the metrics
that need the whole ranking (HOPS) are computed here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from .assets import RunAssets, distance_correlation
from .data.loaders import make_loader
from .data.prepared import data_path, read_meta
from .fileio import save_npz, write_json
from .inference import Predictions, build_model, place_model, predict
from .methods import get_method, posthoc_chain
from .metrics import (
    expected_calibration_error,
    hiercos_level_accuracies,
    hops,
    level_accuracies,
    metrics,
    rank_by_score,
)
from .runs import Evaluation, RunSpec
from .runtime import select_device, set_threads

TOP_K = 20


def evaluate_run(
    *,
    checkpoint: str | Path,
    assets: RunAssets,
    data: str | Path,
    metrics_file: str | Path,
    predictions_file: str | Path,
    auxiliary: Mapping[str, str | Path] | None = None,
    threads: int = 1,
    split: str = "test",
    chains: Sequence[str] | None = None,
    evaluation: Evaluation | None = None,
) -> dict:
    """Score ``checkpoint`` on ``split`` of the prepared dataset whose ``meta.json`` is ``data``;
    ``auxiliary`` names the checkpoints of the auxiliary models its post-hoc rules need.
    ``chains`` and ``evaluation`` replace the post-hoc chains and the evaluation settings that
    the checkpoint recorded (the workflow's evaluate job passes its own: adding a chain does not
    retrain the run)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    run = RunSpec.from_dict(state["config"])
    if chains is not None:
        run = dataclasses.replace(run, posthoc=tuple(chains))
    if evaluation is not None:
        run = dataclasses.replace(run, evaluation=evaluation)
    set_threads(threads, run.training.workers)
    device = select_device(run.training.device)
    auxiliary_models = {
        name: torch.load(path, map_location="cpu", weights_only=True) for name, path in (auxiliary or {}).items()
    }

    model_assets = assets.for_model(run.control)  # a control's model and rules know its shuffled tree

    def model_predictions(model_run: RunSpec, weights: dict, split_name: str) -> Predictions:
        own = model_assets if model_run.control == run.control else assets.for_model(model_run.control)
        return _predictions(model_run, weights, own, data, split_name, device)

    def scored_on(split_name: str) -> dict:
        predictions = model_predictions(run, state["model"], split_name)
        auxiliary_probabilities = {
            name: leaf_probabilities(
                model_predictions(RunSpec.from_dict(other["config"]), other["model"], split_name).scores
            )
            for name, other in auxiliary_models.items()
        }
        return scored_predictions(
            predictions.scores,
            predictions.targets,
            assets,
            run.posthoc,
            auxiliary_probabilities,
            get_method(run.method).ranked_by,
            rule_assets=model_assets,
            level_hits=predictions.level_hits,
        )

    scored = scored_on(split)
    trial = {"trial": run.trial.to_dict(), "val": _validation(scored_on("val")["metrics"])} if run.trial else {}
    control = (
        {"control": {**dataclasses.asdict(run.control), "distance_correlation": distance_correlation(
            assets.distances, model_assets.distances)}}
        if run.control
        else {}
    )  # fmt: skip
    result = {
        "dataset": run.dataset,
        "variant": run.variant,
        "seed": run.seed,
        "method": run.method,
        "head": run.head,
        "split": split,
        "checkpoint_epoch": state["epoch"],
        "drop_last": run.evaluation.drop_last,
        "data_path": data_path(read_meta(data), run.training.augment_on),
        **scored.pop("metrics"),
        **trial,
        **control,
    }
    save_npz(predictions_file, **scored)
    write_json(metrics_file, result)
    return result


def _validation(metrics: dict) -> dict:
    """Validation metrics as the test's, their image count named ``n_val``."""
    renamed = {"n_val" if key == "n_test" else key: value for key, value in metrics.items()}
    return {key: _validation(value) if isinstance(value, dict) else value for key, value in renamed.items()}


def _predictions(run: RunSpec, weights: dict, assets: RunAssets, data, split: str, device: torch.device) -> Predictions:
    """A trained model's predictions over a split."""
    model = build_model(run, assets)
    model.load_state_dict(weights)
    place_model(model, run, device)
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


def leaf_probabilities(scores: np.ndarray) -> np.ndarray:
    """softmax(scores) over the classes, in float64: the distribution post-hoc rules and calibration read."""
    return torch.softmax(torch.from_numpy(scores).double(), dim=1).numpy()


def scored_predictions(
    scores: np.ndarray,
    targets: np.ndarray,
    assets: RunAssets,
    chains: Sequence[str],
    auxiliary: Mapping[str, np.ndarray] | None = None,
    ranked_by: str = "",
    rule_assets: RunAssets | None = None,
    level_hits: np.ndarray | None = None,
) -> dict:
    """Top-k rankings of the base prediction and of every post-hoc chain, and their metrics;
    ``auxiliary`` holds the auxiliary models' probabilities over the same samples, by name;
    ``ranked_by`` says what the base scores are (recorded with the metrics). The metrics read
    ``assets``; the post-hoc rules ``rule_assets`` (a control's shuffled tree; default: the same).
    ``level_hits``, the method's own per-depth hits (Hier-COS), add its authors' level and
    full-path accuracies to the base prediction's metrics (a post-hoc rule re-ranks the leaves
    only)."""
    k = min(TOP_K, assets.num_classes)
    probabilities = leaf_probabilities(scores)
    out = {"targets": targets, "ranked": rank_by_score(scores, k)}
    summary = {**_metrics(scores, probabilities, targets, assets), "ranked_by": ranked_by}
    if level_hits is not None:
        summary.update(hiercos_level_accuracies(level_hits))
    for chain in chains:
        chain_probabilities, chain_scores, described = probabilities, scores, []
        for rule in posthoc_chain(chain):
            extra = (auxiliary or {})[rule.auxiliary.name] if rule.auxiliary else None
            chain_probabilities, chain_scores = rule.apply(
                chain_probabilities, chain_scores, rule_assets or assets, extra
            )
            described.append(rule.ranked_by)
        out[f"ranked_{chain}"] = rank_by_score(chain_scores, k)
        summary[chain] = {
            **_metrics(chain_scores, chain_probabilities, targets, assets),
            "ranked_by": ", then ".join(described),
        }
    out["metrics"] = summary
    return out


def _metrics(scores: np.ndarray, probabilities: np.ndarray, targets: np.ndarray, assets: RunAssets) -> dict:
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
