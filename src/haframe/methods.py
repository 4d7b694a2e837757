"""The method registry: what a variant's ``method`` means for its classifier, loss and params.

Adding a method = one entry here (plus its loss in losses.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Param:
    default: Any
    check: Callable[[Any], bool]
    expected: str  # what a valid value looks like, for error messages


@dataclass(frozen=True)
class Method:
    name: str
    loss: str  # function name in haframe.losses (imported lazily: config checks need no torch)
    classifier: str  # "learnable" or "haframe" (the frozen frame W)
    heads: tuple[str, ...]
    params: dict[str, Param] = field(default_factory=dict)


def _unit_interval(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and 0.0 <= x <= 1.0


METHODS: dict[str, Method] = {
    "ce": Method("ce", "cross_entropy", classifier="learnable", heads=("II",)),
    "haframe": Method(
        "haframe",
        "haframe_loss",
        classifier="haframe",
        heads=("II",),
        params={"alpha": Param(0.4, _unit_interval, "a number in [0, 1]")},
    ),
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; known: {sorted(METHODS)}")
    return METHODS[name]


def loss_function(method: Method) -> Callable:
    from . import losses

    return getattr(losses, method.loss)
