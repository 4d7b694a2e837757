"""Pickles: the one restricted unpickler, for every pickle the project did not write."""

from __future__ import annotations

import lzma
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle referenced a global that its reader does not admit."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, allowed: Mapping[tuple[str, str], Any], source: str, **kwargs):
        super().__init__(file, **kwargs)
        self._allowed = allowed
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        # Called for every GLOBAL/STACK_GLOBAL before anything is constructed or called:
        # refusing here means no code named by the pickle ever runs.
        if (module, name) in self._allowed:
            return self._allowed[(module, name)]
        raise UnsafePickleError(
            f"{self._source}: refusing to load global {module}.{name}; "
            f"this reader admits only {sorted(f'{m}.{n}' for m, n in self._allowed) or 'no globals'}"
        )


def safe_unpickle(path: str | os.PathLike, allowed: Mapping[tuple[str, str], Any] | None = None, **kwargs) -> Any:
    """Load a pickle that may only reference the globals in ``allowed``.

    ``allowed`` maps (module, name) as written in the pickle to the object to use for it.
    ``.xz`` files are decompressed. The project's one way to read a pickle it did not write.
    """
    path = Path(path)
    opener = lzma.open if path.suffix == ".xz" else open
    with opener(path, "rb") as handle:
        return _RestrictedUnpickler(handle, allowed or {}, str(path), **kwargs).load()
