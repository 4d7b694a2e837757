"""Declared options: what a plugin (a method, post-hoc rule, dataset kind, the training recipe)
takes, each value checked in one place.

An ``Option`` is one setting: its type, default, valid range or choices, whether null is
allowed, a one-line ``meaning`` and, for a hyper-parameter, the ``search`` space a study
samples it from. ``check(value, where)`` returns the value (an integer given for a number as a
float, a section as its record) or raises ``ConfigError`` naming ``where`` and what was
expected: the type first ("training.lr: expected a finite number, got inf"), then the range
("variants.haframe.alpha: expected a number in [0, 1] (0: fixed frame, plain CE), got 2").

A dataclass whose fields carry their options (``declared``) is built from plain values by
``build``; ``option_table`` renders a set of options for the docs. Torch-free and numpy-free:
the study is checked without the training stack.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """The configuration cannot describe a valid study; the message names the field
    (``haframe.runs.ConfigError`` is this class)."""


# --------------------------------------------------------------------------- search spaces


def _unit(rng) -> float:
    """One draw in [0, 1) from a ``random.Random`` or a numpy ``Generator`` (both have ``random()``)."""
    return float(rng.random())


def _number(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class Uniform:
    """Uniform on [low, high]."""

    low: float
    high: float

    def sample(self, rng) -> float:
        return min(max(self.low + (self.high - self.low) * _unit(rng), self.low), self.high)

    def describe(self) -> str:
        return f"uniform {_number(self.low)}..{_number(self.high)}"


@dataclass(frozen=True)
class LogUniform:
    """Log-uniform on [low, high], 0 < low < high: each decade as likely."""

    low: float
    high: float

    def __post_init__(self):
        if not 0 < self.low < self.high:
            raise ValueError(f"LogUniform needs 0 < low < high, got {self.low}, {self.high}")

    def sample(self, rng) -> float:
        x = math.exp(math.log(self.low) + (math.log(self.high) - math.log(self.low)) * _unit(rng))
        return min(max(x, self.low), self.high)

    def describe(self) -> str:
        return f"log-uniform {_number(self.low)}..{_number(self.high)}"


@dataclass(frozen=True)
class IntUniform:
    """An integer of low..high (both included), each as likely."""

    low: int
    high: int

    def sample(self, rng) -> int:
        return self.low + min(int(_unit(rng) * (self.high - self.low + 1)), self.high - self.low)

    def describe(self) -> str:
        return f"integers {self.low}..{self.high}"


@dataclass(frozen=True)
class Choice:
    """One of ``values``, each as likely."""

    values: tuple

    def sample(self, rng) -> Any:
        return self.values[min(int(_unit(rng) * len(self.values)), len(self.values) - 1)]

    def describe(self) -> str:
        return "one of " + ", ".join(_show(v) for v in self.values)


Space = Uniform | LogUniform | IntUniform | Choice


# --------------------------------------------------------------------------- options

_NOUNS = {
    float: ("a number", "numbers"),
    int: ("an integer", "integers"),
    bool: ("true or false", "booleans"),
    str: ("a string", "strings"),
    list: ("a list", "lists"),
    tuple: ("a list", "lists"),
    dict: ("a mapping", "mappings"),
}
_TYPE_EXPECTED = {
    float: "a finite number",
    int: "an integer",
    bool: "true or false",
    str: "a string",
    list: "a list",
    tuple: "a list",
    dict: "a mapping",
}


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number(value)
    return str(value)


@dataclass(frozen=True)
class Option:
    """One setting a plugin takes (see the module docstring).

    ``type``: float (any finite number; an integer becomes a float), int, bool, str, list or
    tuple (of ``items``, ``min_items``..``max_items`` long; a tuple option gives a tuple),
    dict (a section: its keys among ``fields``, each checked by its option; or any keys, each
    value checked by ``values``), or a dataclass whose fields are ``declared`` (a section built
    into that record). ``low``/``high`` bound numbers (``low_open``/``high_open``: excluded);
    ``choices`` and ``pattern`` (a regular expression the whole string matches) restrict
    strings; ``nullable`` admits null. ``required``: a section that has this option must set
    it (``default`` is then unused). ``note`` says in a few words what a value means at its
    edges, for the error messages ("0: fixed frame, plain CE").
    """

    type: type
    default: Any = None
    meaning: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple | None = None
    pattern: str | None = None
    nullable: bool = False
    required: bool = False
    items: Option | None = None
    min_items: int = 0
    max_items: int | None = None
    fields: Mapping[str, Option] | None = None
    values: Option | None = None
    search: Space | None = None
    note: str = ""

    # ------------------------------------------------------------ checking

    def check(self, value: Any, where: str) -> Any:
        """``value``, checked (see the class docstring); raises ConfigError naming ``where``."""
        if value is None:
            if self.nullable:
                return None
            self._fail(where, value, self._type_expected())
        if dataclasses.is_dataclass(self.type):
            return value if isinstance(value, self.type) else build(self.type, value, where)
        self._check_type(value, where)
        if self.type in (list, tuple):
            items = [self.items.check(item, f"{where}[{i}]") if self.items else item for i, item in enumerate(value)]
            if len(items) < self.min_items or (self.max_items is not None and len(items) > self.max_items):
                self._fail(where, value)
            return tuple(items) if self.type is tuple else items
        if self.type is dict:
            return self._check_section(value, where)
        if not self._admits(value):
            self._fail(where, value)
        return float(value) if self.type is float else value

    def _check_type(self, value: Any, where: str) -> None:
        if self.type is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        elif self.type is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif self.type in (list, tuple):
            ok = isinstance(value, (list, tuple))
        elif self.type is dict:
            ok = isinstance(value, Mapping)
        elif self.type in (bool, str):
            ok = isinstance(value, self.type)
        else:
            raise TypeError(f"{where}: an option of type {self.type!r} cannot be checked")
        if not ok:
            self._fail(where, value, self._type_expected())

    def _check_section(self, value: Mapping, where: str) -> dict:
        if self.fields is not None:
            unknown = sorted(set(value) - set(self.fields), key=str)
            if unknown:
                raise ConfigError(f"{where}.{unknown[0]}: unknown key; known: {sorted(self.fields)}")
            return {key: self.fields[key].check(item, f"{where}.{key}") for key, item in value.items()}
        if self.values is not None:
            return {key: self.values.check(item, f"{where}.{key}") for key, item in value.items()}
        return dict(value)

    def _admits(self, value: Any) -> bool:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            return False
        if self.choices is not None and value not in self.choices:
            return False
        return self.pattern is None or re.fullmatch(self.pattern, value) is not None

    def _fail(self, where: str, value: Any, expected: str | None = None) -> None:
        raise ConfigError(f"{where}: expected {expected or self.expected()}, got {value!r}")

    def _type_expected(self) -> str:
        if dataclasses.is_dataclass(self.type):
            base = "a mapping"
        else:
            base = _TYPE_EXPECTED[self.type]
        return base + (" or null" if self.nullable else "")

    # ------------------------------------------------------------ describing

    def expected(self) -> str:
        """What a valid value looks like, in words ("a number in [0, 1] (0: fixed frame, plain CE)")."""
        return self.describe() + (" or null" if self.nullable else "") + (f" ({self.note})" if self.note else "")

    def describe(self, plural: bool = False) -> str:
        """The valid values without null and note: "an integer >= 1", "integers >= 1" (plural)."""
        if self.choices is not None:
            return "one of " + ", ".join(_show(c) for c in self.choices if c is not None)
        if dataclasses.is_dataclass(self.type) or (self.type is dict and self.fields is not None):
            keys = sorted(f.name for f in dataclasses.fields(self.type)) if self.fields is None else sorted(self.fields)
            return ("mappings" if plural else "a mapping") + " of " + ", ".join(keys)
        if self.type is dict and self.values is not None:
            return ("mappings" if plural else "a mapping") + " to " + self.values.describe(plural=True)
        noun = _NOUNS[self.type][1 if plural else 0]
        if self.type in (list, tuple):
            size = ""
            if self.max_items is not None and self.min_items == self.max_items:
                size = f" {self.min_items}"
            elif self.min_items == 1 and self.max_items is None:
                noun = "non-empty lists" if plural else "a non-empty list"
            elif self.max_items is None and self.min_items:
                size = f" at least {self.min_items}"
            elif self.max_items is not None:
                size = f" {self.min_items}..{self.max_items}"
            return noun + (f" of{size} " + self.items.describe(plural=True) if self.items else "")
        if self.pattern is not None:
            return f"{noun} matching {self.pattern}"
        return noun + self._range()

    def _range(self) -> str:
        low, high = self.low, self.high
        if low is not None and high is not None:
            return f" in {'(' if self.low_open else '['}{_number(low)}, {_number(high)}{')' if self.high_open else ']'}"
        if low is not None:
            return f" {'>' if self.low_open else '>='} {_number(low)}"
        if high is not None:
            return f" {'<' if self.high_open else '<='} {_number(high)}"
        return ""

    def type_name(self) -> str:
        """The type, for the tables: number, integer, boolean, string, list of ..., a record's name."""
        if dataclasses.is_dataclass(self.type):
            name = "section"
        else:
            name = {
                float: "number",
                int: "integer",
                bool: "boolean",
                str: "string",
                list: "list",
                tuple: "list",
                dict: "section" if self.fields is not None else "mapping",
            }[self.type]
            if self.type in (list, tuple) and self.items is not None:
                name += " of " + self.items.type_name() + "s"
            if self.type is dict and self.values is not None:
                name += " to " + self.values.type_name() + "s"
        return name + (" or null" if self.nullable else "")

    def range_text(self) -> str:
        """The valid values beyond the type, for the tables ("" when the type says it all)."""
        if self.choices is not None:
            return ", ".join(_show(c) for c in self.choices if c is not None)
        if self.pattern is not None:
            return f"matches {self.pattern}"
        if self.type in (list, tuple):
            if self.max_items is not None and self.min_items == self.max_items:
                size = f"{self.min_items} items"
            elif self.max_items is None and self.min_items:
                size = "non-empty" if self.min_items == 1 else f"at least {self.min_items} items"
            elif self.max_items is not None:
                size = f"{self.min_items}..{self.max_items} items"
            else:
                size = "items"
            inner = self.items.range_text() if self.items is not None else ""
            return f"{size}, each {inner}" if inner else ("" if size == "items" else size)
        if self.type is dict and self.fields is not None:
            return "keys " + ", ".join(sorted(self.fields))
        return self._range().strip()


# --------------------------------------------------------------------------- records of options


def declared(option: Option) -> Any:
    """A dataclass field whose value ``option`` declares (its default is the option's):
    ``lr: float = declared(Option(float, 0.1, "...", low=0, low_open=True))``."""
    if isinstance(option.default, (list, dict, set)):
        raise TypeError("a declared field's default must be immutable (a tuple, not a list)")
    return dataclasses.field(default=option.default, metadata={"option": option})


def options_of(cls: type) -> dict[str, Option]:
    """The options of a dataclass's ``declared`` fields, in field order."""
    return {f.name: f.metadata["option"] for f in dataclasses.fields(cls) if "option" in f.metadata}


def build(
    cls: type,
    values: Mapping[str, Any],
    where: str,
    undeclared: Callable[[dataclasses.Field, Any, str], Any] | None = None,
):
    """The dataclass ``cls`` from plain values, strictly: unknown keys and values that their
    option refuses raise ConfigError naming ``where.<key>``; missing keys take defaults. A
    field without an option goes through ``undeclared(field, value, where)``."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields), key=str)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key; known: {sorted(fields)}")
    kwargs = {}
    for name, f in fields.items():
        if name in values:
            option = f.metadata.get("option")
            if option is not None:
                kwargs[name] = option.check(values[name], f"{where}.{name}")
            elif undeclared is not None:
                kwargs[name] = undeclared(f, values[name], f"{where}.{name}")
            else:
                raise TypeError(f"{cls.__name__}.{name} declares no option")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}.{name}: required")
    return cls(**kwargs)


# --------------------------------------------------------------------------- docs


def _value_text(value: Any) -> str:
    if dataclasses.is_dataclass(value):
        return "(its fields' defaults)"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_value_text(v)}" for k, v in value.items()) + "}"
    return _show(value)


def _default_text(option: Option) -> str:
    return "(required)" if option.required else _value_text(option.default)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def option_rows(options: Mapping[str, Option], prefix: str = "") -> list[tuple[str, ...]]:
    """(name, type, default, range, meaning, search) per option; a section's options follow
    it as ``section.key`` rows."""
    rows = []
    for name, option in options.items():
        rows.append(
            (
                prefix + name,
                option.type_name(),
                _default_text(option),
                option.range_text(),
                option.meaning,
                option.search.describe() if option.search else "",
            )
        )
        inner = options_of(option.type) if dataclasses.is_dataclass(option.type) else option.fields
        if inner:
            rows.extend(option_rows(inner, f"{prefix}{name}."))
    return rows


def option_table(options: Mapping[str, Option], prefix: str = "") -> str:
    """A Markdown table of ``options``: name, type, default, range, meaning, search space."""
    lines = ["| name | type | default | range | meaning | search |", "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in option_rows(options, prefix)]
    return "\n".join(lines)
