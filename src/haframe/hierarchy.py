"""Class hierarchies: the project's file format, validation, distances and per-level labels.

The hierarchy file format (``hierarchy.tsv``) is one line per class, in class-index order.
Each line lists the path from the root to the class, tab-separated::

    # comments and blank lines are ignored
    root<TAB>vehicle<TAB>car<TAB>sedan
    root<TAB>vehicle<TAB>car<TAB>coupe
    root<TAB>animal<TAB>cat

Node names are global identifiers: a node that appears under two different parents is an
error, as is a path that revisits a node (a cycle) or two lines for one class.
Leaves may sit at different depths; distances follow README, "The method" 1 (the padded tree).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class HierarchyError(ValueError):
    """A hierarchy file or tree that is not a valid single-rooted class tree."""


@dataclass(frozen=True)
class Hierarchy:
    """A rooted tree whose leaves are the dataset's classes, in class-index order."""

    classes: tuple[str, ...]
    paths: tuple[tuple[str, ...], ...]  # root ... class, one per class

    @classmethod
    def from_paths(cls, paths: Sequence[Sequence[str]], source: str = "hierarchy") -> Hierarchy:
        paths = tuple(tuple(p) for p in paths)
        _validate(paths, source)
        return cls(classes=tuple(p[-1] for p in paths), paths=paths)

    @classmethod
    def from_parents(cls, parent: dict[str, str], classes: Sequence[str], source: str = "hierarchy") -> Hierarchy:
        """Build from a child -> parent map; ``classes`` gives the class-index order."""
        paths = []
        for c in classes:
            if c not in parent and c not in parent.values():
                raise HierarchyError(f"{source}: class {c!r} is not in the tree")
            path, node, seen = [c], c, {c}
            while node in parent:
                node = parent[node]
                if node in seen:
                    raise HierarchyError(f"{source}: cycle through node {node!r}")
                seen.add(node)
                path.append(node)
            paths.append(path[::-1])
        unreached = (set(parent) | set(parent.values())) - {node for path in paths for node in path}
        if unreached:
            raise HierarchyError(
                f"{source}: nodes on no class's path (a cycle, or a part without classes): {sorted(unreached)[:10]}"
            )
        return cls.from_paths(paths, source)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def depths(self) -> np.ndarray:
        """Depth of every class (root depth 0)."""
        return np.array([len(p) - 1 for p in self.paths])

    @property
    def height(self) -> int:
        """H: depth of the deepest leaf."""
        return int(self.depths.max())

    def tree_order(self) -> np.ndarray:
        """Class indices in depth-first tree order (siblings adjacent), for plots."""
        return np.array(sorted(range(self.num_classes), key=lambda k: self.paths[k]))

    def level_labels(self) -> np.ndarray:
        """K x (H+1) integer labels: column l = ancestor at level l of the padded tree.

        Level 0 is the leaf, level H the root. A leaf shallower than H is its own ancestor
        at the levels below its real depth. Labels at each level are numbered 0..n_l-1 in
        order of first appearance in class order (so level 0 is the class index).
        """
        H, K = self.height, self.num_classes
        names = np.empty((K, H + 1), dtype=object)
        for k, path in enumerate(self.paths):
            depth = len(path) - 1
            for level in range(H + 1):
                names[k, level] = path[min(H - level, depth)]
        labels = np.empty((K, H + 1), dtype=np.int64)
        for level in range(H + 1):
            _, first, inverse = np.unique(names[:, level], return_index=True, return_inverse=True)
            rank = np.argsort(np.argsort(first))  # number nodes by first appearance
            labels[:, level] = rank[inverse]
        return labels

    def nodes(self) -> tuple[list[str], np.ndarray]:
        """Nodes of the unpadded tree (root first, then in order of first appearance along
        the class paths) and their depths (root 0)."""
        names: list[str] = []
        depths: list[int] = []
        seen: set[str] = set()
        for path in self.paths:
            for depth, name in enumerate(path):
                if name not in seen:
                    seen.add(name)
                    names.append(name)
                    depths.append(depth)
        return names, np.asarray(depths, dtype=np.int64)

    def parents(self) -> tuple[list[str], np.ndarray]:
        """The leaves' parents in the unpadded tree (in order of first appearance) and, per
        class, the index of its parent."""
        names = list(dict.fromkeys(path[-2] for path in self.paths))
        index = {name: i for i, name in enumerate(names)}
        return names, np.array([index[path[-2]] for path in self.paths], dtype=np.int64)

    def distance_matrix(self) -> np.ndarray:
        """Dense K x K matrix d(a, b) = H - depth(LCA(a, b)) in the padded tree."""
        levels = self.level_labels()
        H = levels.shape[1] - 1
        shared = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        for level in range(H + 1):  # <= tree height iterations, vectorised over pairs
            column = levels[:, level]
            shared += column[:, None] == column[None, :]
        return (H + 1 - shared).astype(np.int64)

    def summary(self) -> dict:
        D = self.distance_matrix()
        K = self.num_classes
        levels = self.level_labels()
        off_diagonal = D[~np.eye(K, dtype=bool)]
        values, counts = np.unique(D, return_counts=True)
        nodes_per_depth = [len({p[d] for p in self.paths if len(p) > d}) for d in range(self.height + 1)]
        return {
            "num_classes": K,
            "height": self.height,
            "nodes_per_depth": nodes_per_depth,
            "classes_per_level": [int(levels[:, l].max() + 1) for l in range(levels.shape[1])],
            "leaf_depths": {int(d): int(n) for d, n in zip(*np.unique(self.depths, return_counts=True))},
            "distance_histogram": {int(v): int(c) for v, c in zip(values, counts)},
            "random_mistake_severity": float(off_diagonal.mean()) if K > 1 else None,
        }

    def to_tsv(self) -> str:
        header = "# haframe hierarchy: one class per line in class-index order, root-to-class path\n"
        return header + "".join("\t".join(p) + "\n" for p in self.paths)


@dataclass(frozen=True)
class TreeShape:
    """What is known of a dataset's class tree, and from where (for messages): K and the
    height H when known, the tree itself when known (before the hierarchy stage runs, a config
    may tell only K and H)."""

    classes: int | None
    height: int | None
    origin: str  # e.g. "datasets.mine.classes", "its hierarchy file h.tsv"
    hierarchy: Hierarchy | None = None

    @classmethod
    def of(cls, hierarchy: Hierarchy, origin: str) -> TreeShape:
        return cls(hierarchy.num_classes, hierarchy.height, origin, hierarchy)

    def describe(self) -> str:
        known = [
            f"K = {self.classes} classes" if self.classes is not None else "",
            f"height {self.height}" if self.height is not None else "",
        ]
        return f"{' and '.join(filter(None, known)) or 'nothing known'}, from {self.origin}"


def read_text(path: str | Path, expected: str) -> str:
    """A hierarchy text file's content; a missing file or one that is not UTF-8 text (a
    binary file, a pickle given as a tsv) raises HierarchyError naming the file and
    ``expected``, what it should hold."""
    path = Path(path)
    if not path.is_file():
        raise HierarchyError(f"{path}: hierarchy file not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise HierarchyError(
            f"{path}: not a text file (byte {error.object[error.start]:#04x} at offset {error.start} is not UTF-8); "
            f"expected {expected}"
        ) from None


def _validate(paths: tuple[tuple[str, ...], ...], source: str) -> None:
    if not paths:
        raise HierarchyError(f"{source}: the tree is empty (no classes)")
    root = paths[0][0]
    parent_of: dict[str, str] = {}
    classes: dict[str, int] = {}
    for line, path in enumerate(paths, start=1):
        where = f"{source}, class {line}"
        if any(not name for name in path):
            raise HierarchyError(f"{where}: empty node name in {list(path)}")
        if path[0] != root:
            raise HierarchyError(f"{where}: path starts at {path[0]!r}, but the root is {root!r}")
        if len(set(path)) != len(path):
            repeated = next(n for n in path if path.count(n) > 1)
            raise HierarchyError(f"{where}: cycle, node {repeated!r} is its own ancestor")
        if len(path) < 2:
            raise HierarchyError(f"{where}: a class must sit below the root, got {list(path)}")
        cls = path[-1]
        if cls in classes:
            raise HierarchyError(f"{where}: duplicate class {cls!r} (also class {classes[cls]})")
        classes[cls] = line
        for parent, child in zip(path, path[1:]):
            known = parent_of.setdefault(child, parent)
            if known != parent:
                raise HierarchyError(f"{where}: node {child!r} has two parents, {known!r} and {parent!r}")
    inner = set(parent_of.values())
    for cls, line in classes.items():
        if cls in inner:
            raise HierarchyError(f"{source}, class {line}: class {cls!r} is also an inner node")


def level_parents(level_labels: np.ndarray) -> list[np.ndarray | None]:
    """Entry i (i >= 1): int64 array mapping each class of level i-1 to its class at level i.

    Entry 0 is None (the leaf level has no finer level). Classes are the label values of
    ``level_labels`` (``Hierarchy.level_labels``: 0..n_l-1 per column). Raises ValueError if a
    finer class would have two parents (the columns do not describe a tree).
    """
    labels = np.asarray(level_labels, dtype=np.int64)
    if labels.ndim != 2:
        raise ValueError(f"level_labels must be K x (H+1), got shape {labels.shape}")
    parents: list[np.ndarray | None] = [None]
    for level in range(1, labels.shape[1]):
        fine, coarse = labels[:, level - 1], labels[:, level]
        parent = np.full(int(fine.max()) + 1, -1, dtype=np.int64)
        parent[fine] = coarse
        if (parent < 0).any() or not np.array_equal(parent[fine], coarse):
            raise ValueError(f"level {level - 1} -> {level}: a class has no parent or two parents")
        parents.append(parent)
    return parents


def read_tsv(path: str | Path) -> Hierarchy:
    """Parse a hierarchy file in the project's format (see the module docstring)."""
    path = Path(path)
    rows = []
    for raw in read_text(path, "a tsv hierarchy (one root-to-class path per line, tab-separated)").splitlines():
        line = raw.rstrip("\r")
        if line.strip() and not line.lstrip().startswith("#"):
            rows.append([field.strip() for field in line.split("\t")])
    return Hierarchy.from_paths(rows, source=str(path))


def check_class_order(hierarchy: Hierarchy, classes: Sequence[str], source: str) -> None:
    """Fail unless the hierarchy's classes are exactly ``classes``, in the same order."""
    expected = list(classes)
    got = list(hierarchy.classes)
    if got == expected:
        return
    missing = [c for c in expected if c not in set(got)]
    unknown = [c for c in got if c not in set(expected)]
    if missing:
        raise HierarchyError(f"{source}: classes missing from the hierarchy: {missing[:10]}")
    if unknown:
        raise HierarchyError(f"{source}: hierarchy has classes unknown to the dataset: {unknown[:10]}")
    first = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
    raise HierarchyError(
        f"{source}: class order differs from the dataset's at index {first}: {got[first]!r} vs {expected[first]!r}"
    )
