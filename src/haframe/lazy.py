"""Modules imported where first used, not where named.

The method and post-hoc rule modules are read for their declarations (options, heads, tree
checks) by the study, which compiles the workflow's job table in every Snakemake launch (cluster
jobs re-read the workflow too): importing torch there would cost about 2 s each time, for
nothing. Those modules name torch through ``module("torch")``; it is imported the first time an
attribute is read, i.e. when a model is built or a loss computed.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module ``name``; reading an attribute imports it (once: ``sys.modules``)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._import(), attribute)

    def _import(self) -> ModuleType:
        return importlib.import_module(self._name)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def module(name: str) -> Any:
    """The module ``name``, imported when first used (typed ``Any``: it stands for the module)."""
    return LazyModule(name)
