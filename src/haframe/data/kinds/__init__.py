"""The registry of dataset kinds: one module each, found automatically.

A kind module exports ``KIND``, a ``base.DatasetKind`` record (its ``fixture`` included: the
contract suite, tests/contract, prepares every kind's). Adding a dataset kind is one new module
here plus its config (README, "Adding a dataset"); the config schema's ``kind`` enum must list
it (a test checks the two agree).
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import DatasetKind, KindFixture, PrepareJob, Source

SHARED_MODULES = {"base", "fixtures"}  # what the kind modules build on


def _discover() -> dict[str, DatasetKind]:
    kinds: dict[str, DatasetKind] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name in SHARED_MODULES or info.name.startswith("_"):
            continue
        kind = importlib.import_module(f"{__name__}.{info.name}").KIND
        if kind.name != info.name:
            raise ImportError(f"{__name__}.{info.name} exports the kind {kind.name!r}: a kind's module bears its name")
        kinds[kind.name] = kind
    return kinds


KINDS = _discover()

__all__ = ["KINDS", "DatasetKind", "KindFixture", "PrepareJob", "Source"]
