"""The registry of training methods and post-hoc rules: one module each, found automatically.

A method module defines a ``Method`` subclass and sets ``METHOD = TheMethod()``; a post-hoc
rule module sets ``RULE = TheRule()`` (see ``base.py`` for what each provides). Adding a
method is one new module here plus its config lines (README, "Adding a method").
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import Method, PostHocRule

SHARED_MODULES = {"base", "maths"}  # what the method modules build on


def _discover() -> tuple[dict[str, Method], dict[str, PostHocRule]]:
    methods: dict[str, Method] = {}
    rules: dict[str, PostHocRule] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name in SHARED_MODULES or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        entries = [(methods, getattr(module, "METHOD", None)), (rules, getattr(module, "RULE", None))]
        if all(entry is None for _, entry in entries):
            raise ImportError(f"{module.__name__} defines neither METHOD nor RULE")
        for registry, entry in entries:
            if entry is None:
                continue
            if entry.name in methods or entry.name in rules:
                raise ImportError(f"{module.__name__}: the name {entry.name!r} is registered twice")
            registry[entry.name] = entry
    return methods, rules


METHODS, POSTHOC_RULES = _discover()


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; known: {sorted(METHODS)}")
    return METHODS[name]


def posthoc_chain(chain: str) -> list[PostHocRule]:
    """The rules of a chain such as "hie+crm", in the order they apply."""
    names = chain.split("+")
    unknown = [name for name in names if name not in POSTHOC_RULES]
    if unknown:
        raise KeyError(f"unknown post-hoc rule {unknown[0]!r} in {chain!r}; known: {sorted(POSTHOC_RULES)}")
    return [POSTHOC_RULES[name] for name in names]
