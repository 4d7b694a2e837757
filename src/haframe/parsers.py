"""Hierarchy parsers: published tree/edge/distance files and FGVC annotations -> Hierarchy.

Every reader of a pickle goes through ``io.safe_unpickle``; the nltk tree pickles are read
without nltk: their one global, ``nltk.tree.Tree``, is mapped to a plain stand-in class, so
no code from the file (or from nltk) runs while loading.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from .hierarchy import Hierarchy, HierarchyError, read_tsv
from .io import safe_unpickle


class TreeNode(list):
    """Stand-in for ``nltk.tree.Tree`` (a list of children with a ``_label``)."""

    _label: str

    @property
    def label(self) -> str:
        return self._label


NLTK_TREE_GLOBALS = {("nltk.tree", "Tree"): TreeNode}


def load_nltk_tree(path: str | Path) -> TreeNode:
    tree = safe_unpickle(path, NLTK_TREE_GLOBALS)
    if not isinstance(tree, TreeNode):
        raise HierarchyError(f"{path}: expected an nltk Tree, got {type(tree).__name__}")
    return tree


def tree_parents(tree: TreeNode) -> dict[str, str]:
    """child -> parent over the whole tree; leaves are the string children."""
    parent: dict[str, str] = {}
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in node:
            name = child.label if isinstance(child, TreeNode) else str(child)
            if name in parent:
                raise HierarchyError(f"node {name!r} has two parents, {parent[name]!r} and {node.label!r}")
            parent[name] = node.label
            if isinstance(child, TreeNode):
                stack.append(child)
    return parent


def read_edges(path: str | Path) -> dict[str, str]:
    """``parent child`` lines (whitespace-separated) -> child -> parent."""
    parent: dict[str, str] = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        fields = line.split()
        if not fields or line.lstrip().startswith("#"):
            continue
        if len(fields) != 2:
            raise HierarchyError(f"{path}, line {number}: expected 'parent child', got {line!r}")
        up, child = fields
        if child in parent and parent[child] != up:
            raise HierarchyError(f"{path}, line {number}: node {child!r} has two parents, {parent[child]!r} and {up!r}")
        parent[child] = up
    return parent


def read_fgvc_annotations(directory: str | Path, splits: Sequence[str] = ("train", "val", "test")) -> dict[str, str]:
    """variant -> family -> manufacturer -> ``unknown`` from images_{level}_{split}.txt files.

    Names follow the published tree: ``v-``/``f-``/``m-`` prefixes, '/' written '-slash-'.
    """
    directory = Path(directory)
    parent: dict[str, str] = {}
    for split in splits:
        levels = [_read_fgvc_labels(directory / f"images_{level}_{split}.txt") for level in ("variant", "family", "manufacturer")]
        variants, families, manufacturers = levels
        if not (variants.keys() == families.keys() == manufacturers.keys()):
            raise HierarchyError(f"{directory}: images_*_{split}.txt files list different images")
        for image, variant in variants.items():
            chain = [f"v-{variant}", f"f-{families[image]}", f"m-{manufacturers[image]}", "unknown"]
            chain = [name.replace("/", "-slash-") for name in chain]
            for child, up in zip(chain, chain[1:]):
                known = parent.setdefault(child, up)
                if known != up:
                    raise HierarchyError(f"{directory}: {child!r} has two parents, {known!r} and {up!r}")
    return parent


def _read_fgvc_labels(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise HierarchyError(f"{path}: FGVC-Aircraft annotation file not found")
    labels = {}
    for line in path.read_text().splitlines():
        if line.strip():
            image, _, label = line.strip().partition(" ")
            labels[image] = label.strip()
    return labels


def load_distance_dict(path: str | Path) -> dict[tuple[str, str], int]:
    """A published ``{(a, b): distance}`` pickle (lzma); it references no global at all."""
    table = safe_unpickle(path)
    if not isinstance(table, dict):
        raise HierarchyError(f"{path}: expected a dict of node pairs, got {type(table).__name__}")
    return table


def distance_matrix_from_dict(table: dict[tuple[str, str], int], classes: Sequence[str]) -> np.ndarray:
    """K x K matrix from a pair dict that holds either (a, b) or (b, a) for every pair."""
    K = len(classes)
    D = np.zeros((K, K), dtype=np.int64)
    for i, a in enumerate(classes):
        for j, b in enumerate(classes[i + 1 :], start=i + 1):
            D[i, j] = D[j, i] = table[(a, b)] if (a, b) in table else table[(b, a)]
    return D


def leaves(parent: dict[str, str]) -> list[str]:
    inner = set(parent.values())
    return [node for node in parent if node not in inner]


def by_index_suffix(names: Iterable[str]) -> list[str]:
    """CIFAR-100's order: ``L5-<i>`` sorted by the torchvision class index i."""
    return sorted(names, key=lambda name: int(name.rsplit("-", 1)[1]))


CLASS_ORDERS: dict[str, Callable[[Iterable[str]], list[str]]] = {
    "sorted": sorted,
    "index_suffix": by_index_suffix,
}

FORMATS = ("nltk_tree", "edges", "tsv", "fgvc_annotations")


def read_hierarchy(source: str | Path, fmt: str, class_order: str = "sorted") -> Hierarchy:
    """Parse any supported hierarchy source; classes in ``class_order`` (tsv: file order)."""
    if fmt == "tsv":
        return read_tsv(source)
    if fmt == "nltk_tree":
        parent = tree_parents(load_nltk_tree(source))
    elif fmt == "edges":
        parent = read_edges(source)
    elif fmt == "fgvc_annotations":
        parent = read_fgvc_annotations(source)
    else:
        raise HierarchyError(f"{source}: unknown hierarchy format {fmt!r}; known: {list(FORMATS)}")
    classes = leaves(parent)
    duplicates = [name for name, n in Counter(classes).items() if n > 1]
    if duplicates:
        raise HierarchyError(f"{source}: duplicate classes {duplicates[:5]}")
    return Hierarchy.from_parents(parent, CLASS_ORDERS[class_order](classes), source=str(source))
