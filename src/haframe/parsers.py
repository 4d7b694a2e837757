"""Hierarchy parsers: published tree pickles and edge lists, and the project's tsv -> Hierarchy.

Every reader of a pickle goes through ``pickles.safe_unpickle``; the nltk tree pickles are read
without nltk: their one global, ``nltk.tree.Tree`` (``nltk.tree.tree.Tree`` from nltk 3.8 on), is
mapped to a plain stand-in class, so no code from the file (or from nltk) runs while loading.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from .hierarchy import Hierarchy, HierarchyError, read_text, read_tsv
from .pickles import safe_unpickle


class TreeNode(list):
    """Stand-in for ``nltk.tree.Tree`` / ``nltk.tree.tree.Tree`` (a list of children with a ``_label``)."""

    _label: str

    @property
    def label(self) -> str:
        return self._label


# nltk < 3.8 defines Tree in nltk/tree.py, nltk >= 3.8 in nltk/tree/tree.py: pickles name
# either path; both map to the stand-in (nothing of nltk is imported or called)
NLTK_TREE_GLOBALS = {("nltk.tree", "Tree"): TreeNode, ("nltk.tree.tree", "Tree"): TreeNode}


def load_nltk_tree(path: str | Path) -> TreeNode:
    """The tree of an nltk pickle, checked in shape: every node a Tree with a string label,
    every child a Tree or a string (a leaf); anything else is refused naming the file."""
    tree = safe_unpickle(path, NLTK_TREE_GLOBALS)
    stack = [tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, TreeNode):
            raise HierarchyError(f"{path}: expected an nltk Tree, got {type(node).__name__}")
        label = node.__dict__.get("_label")
        if not isinstance(label, str):
            raise HierarchyError(f"{path}: a Tree node's label is {type(label).__name__} {label!r}, expected a string")
        for child in node:
            if isinstance(child, TreeNode):
                stack.append(child)
            elif not isinstance(child, str):
                raise HierarchyError(
                    f"{path}: node {label!r} has a child of type {type(child).__name__} ({child!r}); expected a Tree "
                    "or a string (a leaf)"
                )
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
    for number, line in enumerate(read_text(path, "an edges hierarchy ('parent child' lines)").splitlines(), start=1):
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

FORMATS = ("nltk_tree", "edges", "tsv")


def read_hierarchy(source: str | Path, fmt: str, class_order: str = "sorted") -> Hierarchy:
    """Parse any supported hierarchy source; classes in ``class_order`` (tsv: file order)."""
    if fmt == "tsv":
        return read_tsv(source)
    if fmt == "nltk_tree":
        parent = tree_parents(load_nltk_tree(source))
    elif fmt == "edges":
        parent = read_edges(source)
    else:
        raise HierarchyError(f"{source}: unknown hierarchy format {fmt!r}; known: {list(FORMATS)}")
    classes = leaves(parent)
    duplicates = [name for name, n in Counter(classes).items() if n > 1]
    if duplicates:
        raise HierarchyError(f"{source}: duplicate classes {duplicates[:5]}")
    return Hierarchy.from_parents(parent, CLASS_ORDERS[class_order](classes), source=str(source))
