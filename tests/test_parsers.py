"""haframe.parsers on the real published hierarchy files (tests/reference_files.py).

Facts checked here come from ../shared/reference/README.md and README, "The method" 1-2:
class counts, heights, per-level class counts, random-mistake severities, the four
published distance files (every K x K entry) and the frame's minimum similarity s.
Also: the restricted unpickler refuses code-running pickles before anything runs, and
malformed hierarchies fail with HierarchyError.
"""

from __future__ import annotations

import functools
import lzma
import pickle
import shlex
import subprocess
import sys
import time
import types

import numpy as np
import pytest
from conftest import distance_matrix_from_dict, load_distance_dict
from reference_files import reference_file

from haframe.frames import solve_similarity
from haframe.hierarchy import Hierarchy, HierarchyError, check_class_order
from haframe.parsers import (
    CLASS_ORDERS,
    TreeNode,
    load_nltk_tree,
    read_edges,
    read_hierarchy,
    tree_parents,
)
from haframe.pickles import UnsafePickleError


def hier(name: str, file: str):
    """A file of the published hierarchy ``name`` (hierarchies/<name>/<file>)."""
    return reference_file(f"hierarchies/{name}/{file}")


# dataset -> (class order, K, height, first class, random-mistake severity, gamma, grid s, exact s)
DATASETS = {
    "cifar100": ("index_suffix", 100, 5, "L5-0", 3.9141, 2.0, -0.300071, -0.305739),
    "fgvc_aircraft": ("sorted", 100, 3, "v-707-320", 2.9077, 1.0, -0.610040, -0.614669),
    "inat19": ("sorted", 1010, 7, "nat0000", 5.5024, 5.0, -0.031264, -0.032024),
    "tiered_imagenet": ("sorted", 608, 12, "n01440764", 9.3653, 3.0, -0.072238, -0.079478),
}
NAMES = list(DATASETS)


@functools.cache
def tree_hierarchy(name: str) -> Hierarchy:
    return read_hierarchy(hier(name, "tree.pkl"), "nltk_tree", DATASETS[name][0])


@functools.cache
def tree_distances(name: str) -> np.ndarray:
    return tree_hierarchy(name).distance_matrix()


# --------------------------------------------------------------------------- 1. real files


@pytest.mark.parametrize("name", NAMES)
def test_tree_pickle_counts_heights_and_order(name):
    order, K, H, first, *_ = DATASETS[name]
    h = tree_hierarchy(name)
    assert h.num_classes == K == len(set(h.classes))
    assert h.height == H
    assert h.classes[0] == first
    assert list(h.classes) == CLASS_ORDERS[order](h.classes)
    for path, cls in zip(h.paths, h.classes):
        assert path[-1] == cls and path[0] == h.paths[0][0]
    if name == "cifar100":
        assert list(h.classes) == [f"L5-{i}" for i in range(100)]  # torchvision index order
        assert h.paths[0][0] == "root"
        assert list(h.depths) == [5] * 100
    else:
        assert list(h.classes) == sorted(h.classes)
    if name == "fgvc_aircraft":
        assert h.paths[0][0] == "unknown"
        assert h.paths[0] == ("unknown", "m-Boeing", "f-Boeing 707", "v-707-320")
        assert all(c.startswith("v-") for c in h.classes)
    if name == "inat19":
        assert list(h.classes) == [f"nat{i:04d}" for i in range(1010)]
    if name == "tiered_imagenet":
        assert h.paths[0][0] == "n00001930"
        assert all(c.startswith("n") and len(c) == 9 for c in h.classes)
        assert (int(h.depths.min()), int(h.depths.max())) == (3, 12)


def test_tree_loading_does_not_import_nltk():
    tree = load_nltk_tree(hier("cifar100", "tree.pkl"))
    assert isinstance(tree, TreeNode) and tree.label == "root"
    assert "nltk" not in sys.modules and "nltk.tree" not in sys.modules


@pytest.mark.parametrize("name, edges", [("inat19", 1189), ("tiered_imagenet", 842)])
def test_isa_edges_equal_tree_pickle(name, edges):
    parent = read_edges(hier(name, "isa.txt"))
    assert len(parent) == edges
    assert parent == tree_parents(load_nltk_tree(hier(name, "tree.pkl")))
    from_edges = read_hierarchy(hier(name, "isa.txt"), "edges")
    assert from_edges == tree_hierarchy(name)
    assert from_edges.classes == tree_hierarchy(name).classes
    assert from_edges.paths == tree_hierarchy(name).paths


@pytest.mark.parametrize(
    "name, per_level",
    [
        ("cifar100", [100, 20, 8, 4, 2, 1]),
        ("fgvc_aircraft", [100, 70, 30, 1]),
        ("tiered_imagenet", [608, 607, 584, 510, 422, 270, 159, 86, 35, 21, 5, 2, 1]),
    ],
)
def test_per_level_class_counts(name, per_level):
    levels = tree_hierarchy(name).level_labels()
    assert levels.shape == (DATASETS[name][1], DATASETS[name][2] + 1)
    assert [int(levels[:, l].max()) + 1 for l in range(levels.shape[1])] == per_level
    assert list(levels[:, 0]) == list(range(DATASETS[name][1]))  # level 0 = class index
    # every level's labels are 0..n-1 with no gaps
    for l in range(levels.shape[1]):
        assert set(levels[:, l].tolist()) == set(range(per_level[l]))


def test_inat19_per_level_counts_used_by_hafeature():
    levels = tree_hierarchy("inat19").level_labels()
    counts = [int(levels[:, l].max()) + 1 for l in range(levels.shape[1])]
    assert counts[:6] == [1010, 72, 57, 34, 9, 4] and counts[-1] == 1


# --------------------------------------------------------------------------- 2. distances


@pytest.mark.parametrize("name", NAMES)
def test_distance_matrix_equals_published_distance_file(name):
    table = load_distance_dict(hier(name, "distances.pkl.xz"))  # first: offline, the skip names this file
    h = tree_hierarchy(name)
    reference = distance_matrix_from_dict(table, h.classes)
    D = tree_distances(name)
    assert D.shape == reference.shape == (h.num_classes, h.num_classes)
    mismatches = int((D != reference).sum())
    assert mismatches == 0, f"{name}: {mismatches} of {D.size} entries differ from the published distances"
    assert np.array_equal(D, reference)
    assert np.array_equal(D, D.T) and not np.diag(D).any()
    assert int(D.max()) == h.height


# --------------------------------------------------------------------------- 3. severity


@pytest.mark.parametrize("name", NAMES)
def test_random_mistake_severity(name):
    summary = tree_hierarchy(name).summary()
    assert round(summary["random_mistake_severity"], 4) == DATASETS[name][4]
    assert summary["num_classes"] == DATASETS[name][1]
    assert summary["height"] == DATASETS[name][2]


# --------------------------------------------------------------------------- 4. frames


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("solver", ["grid", "exact"])
def test_frame_minimum_similarity(name, solver):
    gamma, grid_s, exact_s = DATASETS[name][5:]
    sim = solve_similarity(tree_distances(name), gamma, solver)
    expected = grid_s if solver == "grid" else exact_s
    assert abs(sim.s - expected) < 1e-6, f"{name} {solver}: s = {sim.s!r}, expected {expected}"
    assert abs(sim.exact_s - exact_s) < 1e-6


# --------------------------------------------------------------------------- 6. FGVC annotations


NLTK_TREE_MODULES = {"nltk<3.8": "nltk.tree", "nltk>=3.8": "nltk.tree.tree"}  # where nltk defines Tree


def _make_fake_nltk_tree_pickle(protocol: int, module: str = "nltk.tree", leaf=None) -> bytes:
    """Pickle a small tree with a stand-in ``<module>.Tree`` exactly as nltk writes it (nltk
    < 3.8: ``nltk.tree.Tree``; from 3.8 on: ``nltk.tree.tree.Tree``); ``leaf`` replaces one leaf."""
    names = [".".join(module.split(".")[: i + 1]) for i in range(module.count(".") + 1)]  # nltk, nltk.tree, ...
    modules = {name: types.ModuleType(name) for name in names}
    for name, package in modules.items():
        package.__path__ = []
        if "." in name:
            parent, _, child = name.rpartition(".")
            setattr(modules[parent], child, package)

    class Tree(list):  # like nltk's: a list of children, the label in __dict__['_label']
        def __init__(self, label, children):
            super().__init__(children)
            self._label = label

    Tree.__module__ = module
    Tree.__qualname__ = "Tree"
    modules[module].Tree = Tree
    saved = {key: sys.modules.get(key) for key in modules}
    sys.modules.update(modules)
    try:
        tree = Tree(
            "root",
            [
                Tree("vehicle", [Tree("car", ["sedan", "coupe"]), "bike" if leaf is None else leaf]),
                Tree("animal", ["cat", Tree("big cat", ["lion", "tiger"])]),
            ],
        )
        assert tree.__dict__ == {"_label": "root"}
        data = pickle.dumps(tree, protocol=protocol)
    finally:
        for key, module in saved.items():
            if module is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = module
    return data


@pytest.mark.parametrize("nltk", list(NLTK_TREE_MODULES))
@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_hand_made_nltk_pickle(tmp_path, protocol, nltk):
    module = NLTK_TREE_MODULES[nltk]
    data = _make_fake_nltk_tree_pickle(protocol, module)
    assert "nltk" not in sys.modules and "nltk.tree" not in sys.modules
    # the single global the files hold: nltk.tree.Tree (the published files), nltk.tree.tree.Tree (nltk >= 3.8)
    if protocol < 4:
        assert b"c" + module.encode() + b"\nTree\n" in data
    else:
        assert b"\x8c" + bytes([len(module)]) + module.encode() in data and b"\x8c\x04Tree" in data and b"\x93" in data
    path = tmp_path / "tree.pkl"
    path.write_bytes(data)

    tree = load_nltk_tree(path)
    assert isinstance(tree, TreeNode) and tree.label == "root"
    h = read_hierarchy(path, "nltk_tree")
    assert h.classes == ("bike", "cat", "coupe", "lion", "sedan", "tiger")  # sorted
    assert dict(zip(h.classes, h.paths)) == {
        "bike": ("root", "vehicle", "bike"),
        "cat": ("root", "animal", "cat"),
        "coupe": ("root", "vehicle", "car", "coupe"),
        "lion": ("root", "animal", "big cat", "lion"),
        "sedan": ("root", "vehicle", "car", "sedan"),
        "tiger": ("root", "animal", "big cat", "tiger"),
    }
    # padded-tree distances, H = 3
    D = h.distance_matrix()
    idx = {c: i for i, c in enumerate(h.classes)}
    assert D[idx["sedan"], idx["coupe"]] == 1
    assert D[idx["lion"], idx["tiger"]] == 1
    assert D[idx["bike"], idx["sedan"]] == 2
    assert D[idx["cat"], idx["lion"]] == 2
    assert D[idx["bike"], idx["cat"]] == 3
    assert "nltk" not in sys.modules


def test_tree_with_a_repeated_node_is_an_error(tmp_path):
    tree = TreeNode([TreeNode(["x", "y"]), TreeNode(["x"])])
    tree._label = "root"
    tree[0]._label, tree[1]._label = "a", "b"
    with pytest.raises(HierarchyError, match="'x'"):
        tree_parents(tree)


def test_non_tree_pickle_is_an_error(tmp_path):
    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps(["a", "b"]))
    with pytest.raises(HierarchyError):
        load_nltk_tree(path)


# --------------------------------------------------------------------------- 8. restricted unpickler


class _P0:
    """Protocol-0 pickle opcodes: GLOBAL ('c module\\nname\\n'), MARK/TUPLE/REDUCE."""

    header = b""

    @staticmethod
    def glob(module, name):
        return b"c" + module.encode() + b"\n" + name.encode() + b"\n"

    @staticmethod
    def text(value):
        assert "\n" not in value
        return b"V" + value.encode("raw_unicode_escape") + b"\n"

    @classmethod
    def list(cls, items):
        return b"(" + b"".join(cls.text(i) for i in items) + b"l"


class _P4(_P0):
    """Protocol-4 pickle opcodes: STACK_GLOBAL with SHORT_BINUNICODE operands."""

    header = b"\x80\x04"

    @staticmethod
    def text(value):
        raw = value.encode()
        assert len(raw) < 256
        return b"\x8c" + bytes([len(raw)]) + raw

    @classmethod
    def glob(cls, module, name):
        return cls.text(module) + cls.text(name) + b"\x93"

    @classmethod
    def list(cls, items):
        return b"](" + b"".join(cls.text(i) for i in items) + b"e"


def _call(function: bytes, *args: bytes) -> bytes:
    return function + b"(" + b"".join(args) + b"tR"


def _payload(kind: str, p, marker) -> tuple[bytes, str]:
    """(pickle bytes, the first global it names); loading it unrestricted touches ``marker``."""
    cmd = f"touch {shlex.quote(str(marker))}"
    if kind == "os.system":
        body = _call(p.glob("os", "system"), p.text(cmd))
    elif kind == "posix.system":
        body = _call(p.glob("posix", "system"), p.text(cmd))
    elif kind == "builtins.eval":
        body = _call(p.glob("builtins", "eval"), p.text(f"__import__('pathlib').Path({str(marker)!r}).touch()"))
    elif kind == "builtins.exec":
        body = _call(p.glob("builtins", "exec"), p.text(f"open({str(marker)!r}, 'w').close()"))
    elif kind == "builtins.getattr":  # getattr(__import__('os'), 'system')(cmd)
        imported = _call(p.glob("builtins", "__import__"), p.text("os"))
        body = _call(_call(p.glob("builtins", "getattr"), imported, p.text("system")), p.text(cmd))
    elif kind == "subprocess.Popen":
        body = _call(p.glob("subprocess", "Popen"), p.list(["touch", str(marker)]))
    elif kind == "nltk.tree.ParentedTree":
        body = _call(p.glob("nltk.tree", "ParentedTree"), p.text("x"), p.list(["y"]))
    elif kind == "nltk.download":
        body = _call(p.glob("nltk", "download"), p.text("all"))
    elif kind == "nltk.tree.Tree.fromstring":
        body = _call(p.glob("nltk.tree", "Tree.fromstring"), p.text("(S (NP x))"))
    elif kind == "nltk.tree.tree.ParentedTree":
        body = _call(p.glob("nltk.tree.tree", "ParentedTree"), p.text("x"), p.list(["y"]))
    elif kind == "nltk.tree.tree.Tree.fromstring":
        body = _call(p.glob("nltk.tree.tree", "Tree.fromstring"), p.text("(S (NP x))"))
    else:
        raise AssertionError(kind)
    return p.header + body + b".", kind


CODE_RUNNING = ["os.system", "posix.system", "builtins.eval", "builtins.exec", "builtins.getattr", "subprocess.Popen"]
NLTK_CALLABLES = [
    "nltk.tree.ParentedTree",
    "nltk.download",
    "nltk.tree.Tree.fromstring",
    "nltk.tree.tree.ParentedTree",
    "nltk.tree.tree.Tree.fromstring",
]
PROTOCOLS = {"proto0-GLOBAL": _P0, "proto4-STACK_GLOBAL": _P4}


def _wait_result(obj):
    if isinstance(obj, subprocess.Popen):
        obj.wait(timeout=10)


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
@pytest.mark.parametrize("kind", CODE_RUNNING)
def test_payloads_are_live_when_loaded_unrestricted(tmp_path, kind, protocol):
    """Control: the crafted pickles really do run code under plain pickle.loads."""
    marker = tmp_path / "pwned"
    data, _ = _payload(kind, PROTOCOLS[protocol], marker)
    _wait_result(pickle.loads(data))
    assert marker.exists()


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
@pytest.mark.parametrize("kind", CODE_RUNNING + NLTK_CALLABLES)
@pytest.mark.parametrize("reader", ["load_nltk_tree", "load_distance_dict", "load_distance_dict.xz"])
def test_restricted_unpickler_refuses_and_nothing_runs(tmp_path, kind, protocol, reader):
    marker = tmp_path / "pwned"
    data, refused = _payload(kind, PROTOCOLS[protocol], marker)
    if reader.endswith(".xz"):
        path = tmp_path / "evil.pkl.xz"
        path.write_bytes(lzma.compress(data))
        load = load_distance_dict
    else:
        path = tmp_path / "evil.pkl"
        path.write_bytes(data)
        load = {"load_nltk_tree": load_nltk_tree, "load_distance_dict": load_distance_dict}[reader]
    modules_before = set(sys.modules)
    with pytest.raises(UnsafePickleError) as excinfo:
        load(path)
    assert refused in str(excinfo.value), str(excinfo.value)
    assert str(path) in str(excinfo.value)
    if kind == "subprocess.Popen":
        time.sleep(0.2)  # a spawned process would have had time to touch the marker
    assert not marker.exists(), f"{kind} ran while loading {path.name}"
    assert sorted(set(sys.modules) - modules_before) == []
    assert "nltk" not in sys.modules


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_reduce_based_payload_is_refused(tmp_path, protocol):
    import os

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {shlex.quote(str(marker))}",))

    data = pickle.dumps(Evil(), protocol=protocol)
    for name, load in (("evil.pkl", load_nltk_tree), ("evil2.pkl", load_distance_dict)):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(UnsafePickleError, match=rf"{os.system.__module__}\.system"):
            load(path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_the_nltk_3_8_tree_global_does_not_carry_a_call(tmp_path, protocol):
    """The admitted class path nltk.tree.tree.Tree, called by REDUCE on an os.system call: the
    inner global is refused before anything is called."""
    p, marker = PROTOCOLS[protocol], tmp_path / "pwned"
    system = _call(p.glob("os", "system"), p.text(f"touch {shlex.quote(str(marker))}"))
    path = tmp_path / "tree.pkl"
    path.write_bytes(p.header + _call(p.glob("nltk.tree.tree", "Tree"), p.text("root"), system) + b".")
    with pytest.raises(UnsafePickleError, match=r"refusing to load global os\.system") as excinfo:
        load_nltk_tree(path)
    assert str(path) in str(excinfo.value) and "nltk.tree.tree.Tree" in str(excinfo.value)  # the admitted ones, listed
    assert not marker.exists() and "nltk" not in sys.modules


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_an_nltk_3_8_tree_with_a_reduce_payload_is_refused(tmp_path, protocol):
    """A tree pickled under nltk >= 3.8's class path whose leaf's ``__reduce__`` runs a command."""
    import os

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {shlex.quote(str(marker))}",))

    path = tmp_path / "tree.pkl"
    path.write_bytes(_make_fake_nltk_tree_pickle(protocol, "nltk.tree.tree", leaf=Evil()))
    with pytest.raises(UnsafePickleError, match=rf"refusing to load global {os.system.__module__}\.system"):
        load_nltk_tree(path)
    assert not marker.exists() and "nltk" not in sys.modules


def test_distance_reader_refuses_even_the_tree_global(tmp_path):
    path = tmp_path / "d.pkl.xz"
    path.write_bytes(lzma.compress(hier("cifar100", "tree.pkl").read_bytes()))
    with pytest.raises(UnsafePickleError, match=r"nltk\.tree\.Tree"):
        load_distance_dict(path)


# --------------------------------------------------------------------------- 9. bad hierarchies


def test_edges_node_with_two_parents(tmp_path):
    path = tmp_path / "isa.txt"
    path.write_text("root a\nroot b\na x\nb x\n")
    with pytest.raises(HierarchyError, match="'x'.*two parents"):
        read_hierarchy(path, "edges")


def test_edges_cycle_with_a_leaf_hanging_off_it(tmp_path):
    path = tmp_path / "isa.txt"
    path.write_text("root c1\nroot c2\na b\nb a\nb z\n")
    with pytest.raises(HierarchyError, match="cycle"):
        read_hierarchy(path, "edges")


def test_edges_cycle_detached_from_the_root(tmp_path):
    """a->b, b->a beside a real tree: the file is not a single-rooted tree."""
    path = tmp_path / "isa.txt"
    path.write_text("root c1\nroot c2\na b\nb a\n")
    outcome = {}

    def parse():
        try:
            outcome["value"] = read_hierarchy(path, "edges")
        except BaseException as error:  # noqa: BLE001 - recorded and asserted below
            outcome["error"] = error

    import threading

    worker = threading.Thread(target=parse, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "read_hierarchy hangs on an edges file with a cycle"
    assert "error" in outcome, f"cycle a<->b accepted silently; got {outcome.get('value')!r}"
    assert isinstance(outcome["error"], HierarchyError), repr(outcome["error"])


@pytest.mark.parametrize(
    "fmt, expected", [("tsv", "expected a tsv hierarchy"), ("edges", "expected an edges hierarchy")]
)
def test_a_binary_file_given_as_a_text_hierarchy_names_the_file(tmp_path, fmt, expected):
    path = tmp_path / "tree.pkl"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=4))  # a pickle where a text file was meant
    with pytest.raises(HierarchyError) as excinfo:
        read_hierarchy(path, fmt)
    assert str(excinfo.value).startswith(f"{path}: not a text file (byte 0x80 at offset 0 is not UTF-8); {expected}")


def test_edges_line_with_three_fields(tmp_path):
    path = tmp_path / "isa.txt"
    path.write_text("root a\nroot b c\n")
    with pytest.raises(HierarchyError, match="line 2"):
        read_hierarchy(path, "edges")


def test_edges_with_two_roots(tmp_path):
    path = tmp_path / "isa.txt"
    path.write_text("r1 a\nr1 b\nr2 c\n")
    with pytest.raises(HierarchyError):
        read_hierarchy(path, "edges")


def test_unknown_format(tmp_path):
    with pytest.raises(HierarchyError, match="format"):
        read_hierarchy(tmp_path / "x", "json")


def test_tsv_duplicate_class(tmp_path):
    path = tmp_path / "h.tsv"
    path.write_text("root\ta\tx\nroot\tb\ty\nroot\ta\tx\n")
    with pytest.raises(HierarchyError, match="duplicate class 'x'"):
        read_hierarchy(path, "tsv")


def test_tsv_class_missing_vs_dataset(tmp_path):
    path = tmp_path / "h.tsv"
    path.write_text("root\ta\tx\nroot\tb\ty\n")
    h = read_hierarchy(path, "tsv")
    check_class_order(h, ["x", "y"], "ds")
    with pytest.raises(HierarchyError, match="missing.*'z'"):
        check_class_order(h, ["x", "y", "z"], "ds")
    with pytest.raises(HierarchyError, match="order"):
        check_class_order(h, ["y", "x"], "ds")


# --------------------------------------------------------------------------- 10. tsv round trip


def test_tiered_round_trip_through_tsv(tmp_path):
    original = tree_hierarchy("tiered_imagenet")
    path = tmp_path / "hierarchy.tsv"
    path.write_text(original.to_tsv())
    again = read_hierarchy(path, "tsv")
    assert again.classes == original.classes
    assert again.paths == original.paths
    assert again == original
    assert np.array_equal(again.distance_matrix(), tree_distances("tiered_imagenet"))


@pytest.mark.parametrize(
    "leaf, message",
    [
        (3, r"node 'vehicle' has a child of type int \(3\); expected a Tree or a string"),
        (["a", "list"], r"node 'vehicle' has a child of type list"),
    ],
)
def test_a_tree_pickle_of_the_wrong_shape_is_refused_naming_the_file(tmp_path, leaf, message):
    """Issue 25, item 12: no bare TypeError from a crafted pickle."""
    path = tmp_path / "tree.pkl"
    path.write_bytes(_make_fake_nltk_tree_pickle(2, leaf=leaf))
    with pytest.raises(HierarchyError, match=rf"^{path}: {message}"):
        read_hierarchy(path, "nltk_tree")
