"""The study's protocol: ``published`` (each variant at its configured values, one run per seed)
or ``tuned`` (an equal random-search budget for every variant, the search itself repeated).

Under the tuned protocol a variant on a dataset runs ``trials`` x ``repeats`` runs. Trial ``i``
of repetition ``r`` is an ordinary run whose seed (initialisation, data order) is
``trial_seed(r, i)``, shared by every variant, and whose values are drawn (``draws``):

- a method parameter ``q`` with a declared search space, from a generator seeded by (protocol
  seed, dataset, variant, i, q) only;
- a recipe knob ``q`` of ``protocol.recipe`` (lr, weight decay), by (protocol seed, dataset, i, q)
  only, so that trial ``i`` of every variant shares its recipe.

Adding or removing a variant, dataset, trial or repetition therefore changes no other draw
(DomainBed's #103, #111 and #169 are what this avoids). Values the variant holds ``fixed``
(e.g. ``alpha`` of the fixed-frame ablation) are not drawn. Each repetition selects its trial by
a declared rule on the validation split (haframe.report.selection); the runs are known before
any of them trains, so nothing is added after selection. Torch-free and numpy-free.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .options import ConfigError, Option, build, declared, options_of
from .runs import Training

FIRST_TRIAL_SEED = 1_000_000  # above any published seed in use: a trial never repeats a published run's start
MAX_TRIALS = 999  # trial_seed packs (repetition, trial) in decimal digits: seed 1_002_003 is repetition 2, trial 3
# the training options with a search space: those protocol.recipe may name
TUNABLE_RECIPE = {name: option for name, option in options_of(Training).items() if option.search is not None}
SELECTION_RULES = {
    "val_top1": "the lowest validation top-1 error",
    "val_ahd1": "the lowest validation AHD@1 (= error x severity: more, milder mistakes cannot improve it)",
    "val_severity_within": "the lowest validation mistake severity among the trials whose validation top-1 error is "
    "within `tolerance` points of the repetition's best",
}


@dataclass(frozen=True)
class Protocol:
    """The ``protocol`` section (a bare ``published`` or ``tuned`` names it with the defaults)."""

    name: str = declared(
        Option(
            str,
            "published",
            "published: the configured values; tuned: an equal search budget",
            choices=("published", "tuned"),
        )
    )
    trials: int = declared(Option(int, 20, "trials per (dataset, variant) in each repetition", low=1, high=MAX_TRIALS))
    repeats: int = declared(
        Option(int, 3, "repetitions of the whole search, each with its own trial seeds", low=1, high=MAX_TRIALS)
    )
    selection: str = declared(
        Option(
            str,
            "val_ahd1",
            "how a repetition picks its trial, on validation metrics only",
            choices=tuple(SELECTION_RULES),
        )
    )
    tolerance: float | None = declared(
        Option(float, None, "points of validation top-1 error (val_severity_within only)", low=0, nullable=True)
    )
    seed: int = declared(Option(int, 0, "seeds every draw (not the runs' own seeds)", low=0))
    recipe: tuple = declared(
        Option(
            tuple,
            ("lr", "weight_decay"),
            "the training knobs drawn per trial, shared by every variant's trial",
            items=Option(str, meaning="a training option with a search space"),
        )
    )

    @property
    def tuned(self) -> bool:
        return self.name == "tuned"

    def seeds(self) -> list[int]:
        """Every trial run's seed, repetition by repetition."""
        return [trial_seed(r, i) for r in range(self.repeats) for i in range(self.trials)]

    def describe(self) -> str:
        if not self.tuned:
            return "published: each variant at its configured values"
        rule = describe_rule(self.selection, self.tolerance)
        return (
            f"tuned: {self.trials} trials x {self.repeats} repetitions per dataset and variant (draw seed "
            f"{self.seed}; recipe knobs drawn: {', '.join(self.recipe) or 'none'}); each repetition selects {rule}"
        )


def describe_rule(rule: str, tolerance: float | None) -> str:
    """The selection rule in words, its tolerance filled in."""
    return SELECTION_RULES[rule].replace("`tolerance`", f"{tolerance:g}" if tolerance is not None else "`tolerance`")


def read_protocol(section: str | Mapping[str, Any] | None) -> Protocol:
    """The checked ``protocol`` section (a name alone, or null: published)."""
    protocol = build(
        Protocol, {"name": section or "published"} if not isinstance(section, Mapping) else section, "protocol"
    )
    for i, knob in enumerate(protocol.recipe):
        if knob not in TUNABLE_RECIPE:
            raise ConfigError(
                f"protocol.recipe[{i}]: {knob!r} is not a training option with a search space (those: "
                f"{sorted(TUNABLE_RECIPE)})"
            )
    if (protocol.selection == "val_severity_within") != (protocol.tolerance is not None):
        raise ConfigError(
            "protocol.tolerance: the rule val_severity_within needs a tolerance (points of validation top-1 error), "
            f"and only that rule takes one (selection: {protocol.selection}, tolerance: {protocol.tolerance})"
        )
    return protocol


def trial_seed(repetition: int, trial: int) -> int:
    return FIRST_TRIAL_SEED + 1000 * repetition + trial


def trial_of(seed: int) -> tuple[int, int]:
    """(repetition, trial) of a trial run's seed; ValueError for a seed that is not one."""
    if seed < FIRST_TRIAL_SEED:
        raise ValueError(f"seed {seed} is not a trial seed (those start at {FIRST_TRIAL_SEED})")
    return divmod(seed - FIRST_TRIAL_SEED, 1000)


def derived_seed(*key: Any) -> int:
    """A seed in [0, 2^32) that depends on ``key`` alone (its JSON, hashed)."""
    return int.from_bytes(hashlib.sha256(json.dumps(key).encode()).digest()[:4], "big")


def _generator(*key: Any) -> random.Random:
    """A generator seeded by ``key`` alone: no other draw moves it."""
    return random.Random(derived_seed(*key))


def draws(
    protocol: Protocol,
    dataset: str,
    variant: str,
    trial: int,
    method_params: Mapping[str, Option],
    fixed: set[str],
) -> dict[str, Any]:
    """The values trial ``trial`` of ``variant`` on ``dataset`` draws: method parameters by their
    name, recipe knobs as ``training.<knob>``; what ``fixed`` names is not drawn."""
    drawn: dict[str, Any] = {}
    for name, option in method_params.items():
        if option.search is not None and name not in fixed:
            drawn[name] = option.search.sample(_generator(protocol.seed, dataset, variant, trial, name))
    for knob in protocol.recipe:
        if f"training.{knob}" not in fixed:
            drawn[f"training.{knob}"] = TUNABLE_RECIPE[knob].search.sample(
                _generator(protocol.seed, dataset, trial, knob)
            )
    return drawn
