"""The method registry: what a variant's ``method`` means for its classifier, loss and params.

Adding a method = one entry here (plus its loss in losses.py and, if it needs one, a
classifier kind in models/classifiers.py). Torch-free, so configs are checked without torch.
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
    loss: str  # function name in haframe.losses (imported lazily)
    classifier: str  # a kind in haframe.models.classifiers.CLASSIFIERS
    heads: tuple[str, ...]
    params: dict[str, Param] = field(default_factory=dict)
    needs_levels: bool = False  # one classifier per hierarchy level


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _unit_interval(x: Any) -> bool:
    return _number(x) and 0.0 <= x <= 1.0


def _positive(x: Any) -> bool:
    return _number(x) and x > 0


def _non_negative(x: Any) -> bool:
    return _number(x) and x >= 0


def _levels_or_none(x: Any) -> bool:
    return x is None or (isinstance(x, list) and all(isinstance(v, int) and v >= 1 for v in x))


METHODS: dict[str, Method] = {
    "ce": Method("ce", "cross_entropy", "learnable", heads=("I", "II")),
    "haframe": Method(
        "haframe", "haframe_loss", "haframe", heads=("II",),
        params={"alpha": Param(0.4, _unit_interval, "a number in [0, 1] (0: fixed frame, plain CE)")},
    ),
    "etf": Method("etf", "cross_entropy", "etf", heads=("II",)),
    "flamingo": Method("flamingo", "flamingo_loss", "flamingo", heads=("I", "II"), needs_levels=True),
    "hafeature": Method(
        "hafeature", "hafeature_loss", "hafeature", heads=("I", "II"), needs_levels=True,
        params={"margin_levels": Param(None, _levels_or_none, "null (the published levels) or a list of levels >= 1")},
    ),
    "soft_labels": Method(
        "soft_labels", "soft_labels_loss", "learnable", heads=("II",),
        params={"beta": Param(10.0, _positive, "a number > 0")},
    ),
    "hxe": Method(
        "hxe", "hxe_loss", "learnable", heads=("II",),
        params={"alpha": Param(0.1, _non_negative, "a number >= 0")},
    ),
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; known: {sorted(METHODS)}")
    return METHODS[name]


def loss_function(method: Method) -> Callable:
    from . import losses

    return getattr(losses, method.loss)
