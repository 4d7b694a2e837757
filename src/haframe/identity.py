"""What identifies a job's result: the params the workflow hands Snakemake, whose params
trigger reruns a finished job when their values change.

The profile (profiles/default) reruns a job on a change of its params, inputs or software
environment, not of its script (``rerun-triggers``): so a param must change exactly when the
job's result would, and it must not depend on the order of the keys in the config file. Here
are those params, as plain values with their mapping keys sorted (Snakemake records the
``repr`` of each param value; a dict's repr follows its insertion order):

- ``training_record``: the train job's, what determines the trained weights;
- ``evaluation_record``: the evaluate job's, the settings its scores depend on;
- ``data_options``: the preparation's, the keys of a dataset's section its kind reads.

(The hierarchy and frame rules' params are single values already. The report rules' follow
the config's order of variants and datasets on purpose: it is the order of the report's rows
and colours, so a config that changes it rebuilds the report, and only the report.)

A job that needs more than its identity (the train script: the whole ``RunSpec``, with its
resources and post-hoc chains, which it records in the checkpoint) gets the rest as an
``Untracked`` mapping, which Snakemake does not record.

Upgrades: a job finished by an earlier version of the workflow was recorded with the params of
that version. ``training_params`` and ``data_params`` keep those while they describe the same
result (see each), so that an upgrade reruns nothing that would come out the same; a job run
again records the current form. (A study evaluated before the scores were kept evaluates each
run once more: its scores did not exist.)

Torch-free; the method registry, which ``training_record`` reads, brings torch when first used.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .runs import RESOURCE_FIELDS, ConfigError, RunSpec


class Untracked(Mapping[str, Any]):
    """A read-only mapping that a job reads but Snakemake does not record among its params:
    its params trigger records the repr of builtin types only, and skips anything else."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Untracked({self._values!r})"


def canonical(value: Any) -> Any:
    """``value`` with every mapping's keys sorted, and tuples as lists: equal values, one repr."""
    if isinstance(value, Mapping):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    return value


def training_record(run: RunSpec) -> dict:
    """What determines the run's trained weights: its record (``RunSpec.to_dict``) without its
    post-hoc chains (the evaluation's), its resources (``RESOURCE_FIELDS``) and the keys added
    after runs were recorded while they are at their default (``runs.ADDED_LATER``, a method's
    ``added_later``). The evaluation settings stay: they score the validation split, which
    picks the checkpoint."""
    from .methods import get_method

    method = get_method(run.method)
    record = run.to_dict()
    del record["posthoc"]
    record["training"] = {key: value for key, value in record["training"].items() if key not in RESOURCE_FIELDS}
    record["params"] = {
        key: value
        for key, value in record["params"].items()
        if key not in method.added_later or value != method.params[key].default
    }
    return canonical(record)


def evaluation_record(run: RunSpec) -> dict:
    """What the evaluate job's scores depend on besides the checkpoint: the evaluation settings.
    (The post-hoc chains are the assemble job's param: adding one re-reads saved scores.)"""
    return canonical(dataclasses.asdict(run.evaluation))


def data_options(section: Mapping[str, Any], options: Sequence[str]) -> dict:
    """The keys of a dataset's config section that its kind's preparation reads (the kind's
    ``options``); the others (training, variants, frame, ...) are the later stages'."""
    return canonical({key: section[key] for key in options if key in section})


# ---------------------------------------------------------------------- upgrades


def training_params(run: RunSpec, recorded: Sequence[str] | None) -> dict:
    """The train job's identity param: ``training_record(run)``, or the value Snakemake
    ``recorded`` for the run's finished job (the reprs of its params; None: no record) if that
    is a run record describing the same training. Before this module, the workflow passed the
    whole ``RunSpec.to_dict()``, post-hoc chains and resources included."""
    record = training_record(run)
    for value in _recorded_mappings(recorded):
        try:
            same = training_record(RunSpec.from_dict({"posthoc": [], **value})) == record
        except (ConfigError, KeyError):  # not a run record, or of a method that is gone
            continue
        if same:
            return value
    return record


def data_params(section: Mapping[str, Any], options: Sequence[str], recorded: Sequence[str] | None) -> dict:
    """The preparation's options param: ``data_options(section, options)``, or the value
    Snakemake ``recorded`` for the dataset's finished preparation if it holds the same options.
    Before this module, the workflow passed the whole dataset section, in the config's order."""
    record = data_options(section, options)
    for value in _recorded_mappings(recorded):
        if data_options(value, options) == record:
            return value
    return record


def _recorded_mappings(recorded: Sequence[str] | None) -> Iterator[dict]:
    """The dict values among recorded params (their reprs: literals that evaluate back to them)."""
    for text in recorded or ():
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):  # a repr that is not a literal
            continue
        if isinstance(value, dict):
            yield value
