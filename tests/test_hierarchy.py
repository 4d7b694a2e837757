"""haframe.hierarchy: distances, per-level labels, the file format and its validation.

Reference definitions: README, "The method" 1. Distances are checked against a brute-force
evaluation on the padded tree, on random unbalanced trees.
"""

import numpy as np
import pytest
from conftest import random_tree_paths

from haframe.hierarchy import Hierarchy, HierarchyError, check_class_order, read_tsv


def padded(paths):
    """Every path padded with copies of its leaf down to depth H (a balanced tree)."""
    H = max(len(p) for p in paths) - 1
    return H, [list(p) + [p[-1]] * (H + 1 - len(p)) for p in paths]


def brute_force_distances(paths):
    """d(a, b) = H - depth(LCA(a, b)) in the padded tree, in plain loops."""
    H, full = padded(paths)
    K = len(paths)
    D = [[0] * K for _ in range(K)]
    for a in range(K):
        for b in range(K):
            # deepest depth at which the padded paths still agree = depth of the LCA
            lca_depth = 0
            for depth in range(H + 1):
                if full[a][depth] == full[b][depth]:
                    lca_depth = depth
                else:
                    break
            D[a][b] = H - lca_depth
    return np.array(D)


def brute_force_prefix_distances(paths):
    """The equivalent form: H - (common prefix length - 1) for a != b, 0 on the diagonal."""
    H = max(len(p) for p in paths) - 1
    K = len(paths)
    D = np.zeros((K, K), dtype=int)
    for a in range(K):
        for b in range(K):
            if a == b:
                continue
            common = 0
            for x, y in zip(paths[a], paths[b]):
                if x != y:
                    break
                common += 1
            D[a, b] = H - (common - 1)
    return D


TREE_SEEDS = [0, 1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("seed", TREE_SEEDS)
def test_distance_matrix_matches_brute_force_on_unbalanced_trees(seed):
    paths = random_tree_paths(seed, max_depth=3 + seed % 4)
    assert len({len(p) for p in paths}) > 1, "test tree should be unbalanced"
    h = Hierarchy.from_paths(paths)
    D = h.distance_matrix()
    expected = brute_force_distances(paths)
    assert D.shape == (len(paths), len(paths))
    np.testing.assert_array_equal(D, expected)
    np.testing.assert_array_equal(D, brute_force_prefix_distances(paths))


@pytest.mark.parametrize("seed", TREE_SEEDS)
def test_distance_matrix_basic_properties(seed):
    paths = random_tree_paths(seed, max_depth=3 + seed % 4)
    h = Hierarchy.from_paths(paths)
    D = h.distance_matrix()
    H = max(len(p) for p in paths) - 1
    assert h.height == H
    np.testing.assert_array_equal(np.diag(D), 0)
    np.testing.assert_array_equal(D, D.T)
    assert D.max() == H
    off = D[~np.eye(len(paths), dtype=bool)]
    assert off.min() >= 1


def test_distance_small_hand_example():
    # root -> A -> {a1 -> {x, y}, z}, root -> w   (H = 3; z at depth 2, w at depth 1)
    paths = [
        ["root", "A", "a1", "x"],
        ["root", "A", "a1", "y"],
        ["root", "A", "z"],
        ["root", "w"],
    ]
    D = Hierarchy.from_paths(paths).distance_matrix()
    expected = np.array(
        [
            [0, 1, 2, 3],  # x-y siblings at the bottom; x-z meet at A (depth 1); x-w at root
            [1, 0, 2, 3],
            [2, 2, 0, 3],
            [3, 3, 3, 0],
        ]
    )
    np.testing.assert_array_equal(D, expected)


@pytest.mark.parametrize("seed", TREE_SEEDS)
def test_level_labels(seed):
    paths = random_tree_paths(seed, max_depth=3 + seed % 4)
    h = Hierarchy.from_paths(paths)
    K, H = len(paths), h.height
    labels = h.level_labels()
    assert labels.shape == (K, H + 1)
    np.testing.assert_array_equal(labels[:, 0], np.arange(K))  # level 0 = class index
    np.testing.assert_array_equal(labels[:, H], 0)  # level H = the root
    D = brute_force_distances(paths)
    for level in range(H + 1):
        same = labels[:, level][:, None] == labels[:, level][None, :]
        np.testing.assert_array_equal(same, D <= level, err_msg=f"level {level}")
    # numbered 0..n_l-1 in order of first appearance
    for level in range(H + 1):
        seen = []
        for value in labels[:, level]:
            if value not in seen:
                seen.append(value)
        assert seen == list(range(len(seen)))
    # grouping matches the padded tree's node at depth H - level
    _, full = padded(paths)
    for level in range(H + 1):
        for a in range(K):
            for b in range(K):
                assert (labels[a, level] == labels[b, level]) == (full[a][H - level] == full[b][H - level])


def test_shallow_leaf_is_its_own_ancestor_below_its_depth():
    paths = [
        ["root", "A", "a1", "x"],
        ["root", "A", "a1", "y"],
        ["root", "A", "z"],  # depth 2 < H = 3
        ["root", "w"],  # depth 1
    ]
    labels = Hierarchy.from_paths(paths).level_labels()
    # z: levels 0 and 1 are z itself (alone; labels 2 then 1 by first appearance),
    # level 2 is A (shared with x, y), level 3 the root
    assert list(labels[2]) == [2, 1, 0, 0]
    for level in range(2):
        assert (labels[:, level] == labels[2, level]).sum() == 1
    # w: levels 0..2 are w itself, alone at each; level 3 root
    for level in range(3):
        assert (labels[:, level] == labels[3, level]).sum() == 1
    assert labels[3, 3] == 0
    np.testing.assert_array_equal(labels[:, 1], [0, 0, 1, 2])  # a1, a1, z, w
    np.testing.assert_array_equal(labels[:, 2], [0, 0, 0, 1])  # A, A, A, w


@pytest.mark.parametrize("seed", [0, 3])
def test_tsv_round_trip(tmp_path, seed):
    paths = random_tree_paths(seed)
    h = Hierarchy.from_paths(paths)
    text = h.to_tsv()
    lines = text.splitlines()
    # sprinkle comments and blank lines through the file
    noisy = ["# a comment", "", lines[0]]
    for i, line in enumerate(lines[1:]):
        noisy.append(line)
        if i % 3 == 0:
            noisy.append("")
            noisy.append("   # indented comment")
    f = tmp_path / "hierarchy.tsv"
    f.write_text("\n".join(noisy) + "\n")
    back = read_tsv(f)
    assert back.paths == tuple(tuple(p) for p in paths)
    assert back.classes == tuple(p[-1] for p in paths)
    assert back == h
    np.testing.assert_array_equal(back.distance_matrix(), h.distance_matrix())


def test_read_tsv_missing_file(tmp_path):
    with pytest.raises(HierarchyError, match="not found"):
        read_tsv(tmp_path / "nope.tsv")


def test_empty_file_raises(tmp_path):
    f = tmp_path / "h.tsv"
    f.write_text("# only a comment\n\n   \n")
    with pytest.raises(HierarchyError, match="empty"):
        read_tsv(f)


@pytest.mark.parametrize(
    "paths, pattern",
    [
        # a node repeated on one path
        ([["r", "a", "x"], ["r", "b", "c", "b", "y"]], r"cycle.*'b'"),
        # the root appearing under another node
        ([["r", "a", "x"], ["r", "b", "r", "y"]], r"cycle.*'r'"),
        # a node with two parents
        ([["r", "a", "m", "x"], ["r", "b", "m", "y"]], r"'m' has two parents"),
        # duplicate class
        ([["r", "a", "x"], ["r", "a", "y"], ["r", "a", "x"]], r"duplicate class 'x'"),
        # a class that is also an inner node
        ([["r", "a", "x"], ["r", "a"]], r"'a' is also an inner node"),
        # path not starting at the root
        ([["r", "a", "x"], ["q", "b", "y"]], r"starts at 'q'.*root is 'r'"),
    ],
    ids=["cycle", "root-under-node", "two-parents", "duplicate-class", "class-is-inner", "bad-root"],
)
def test_bad_hierarchies_raise(paths, pattern):
    with pytest.raises(HierarchyError, match=pattern):
        Hierarchy.from_paths(paths)


def test_bad_hierarchy_from_file_names_the_file(tmp_path):
    f = tmp_path / "h.tsv"
    f.write_text("r\ta\tm\tx\nr\tb\tm\ty\n")
    with pytest.raises(HierarchyError, match="two parents") as err:
        read_tsv(f)
    assert str(f) in str(err.value)


def test_from_parents_cycle_raises():
    parent = {"x": "a", "a": "b", "b": "a"}
    with pytest.raises(HierarchyError, match="cycle"):
        Hierarchy.from_parents(parent, ["x"])


def test_from_parents_matches_from_paths():
    parent = {"x": "a1", "y": "a1", "a1": "A", "z": "A", "A": "root", "w": "root"}
    h = Hierarchy.from_parents(parent, ["x", "y", "z", "w"])
    assert h.paths == (
        ("root", "A", "a1", "x"),
        ("root", "A", "a1", "y"),
        ("root", "A", "z"),
        ("root", "w"),
    )


def test_check_class_order():
    h = Hierarchy.from_paths([["r", "a", "x"], ["r", "a", "y"], ["r", "z"]])
    check_class_order(h, ["x", "y", "z"], "data")  # same order: no error
    with pytest.raises(HierarchyError, match=r"missing.*'q'"):
        check_class_order(h, ["x", "y", "z", "q"], "data")
    with pytest.raises(HierarchyError, match=r"unknown.*'z'"):
        check_class_order(h, ["x", "y"], "data")
    with pytest.raises(HierarchyError, match=r"order differs.*index 1") as err:
        check_class_order(h, ["x", "z", "y"], "data")
    assert "data" in str(err.value)


@pytest.mark.parametrize("seed", [0, 2, 5])
def test_summary(seed):
    paths = random_tree_paths(seed)
    h = Hierarchy.from_paths(paths)
    s = h.summary()
    D = brute_force_distances(paths)
    K = len(paths)
    off = [D[a, b] for a in range(K) for b in range(K) if a != b]
    assert s["random_mistake_severity"] == pytest.approx(sum(off) / len(off), abs=1e-12)
    assert s["num_classes"] == K
    assert s["height"] == max(len(p) for p in paths) - 1
    assert sum(s["distance_histogram"].values()) == K * K
    assert s["distance_histogram"][0] == K
    assert s["classes_per_level"][0] == K
    assert s["classes_per_level"][-1] == 1
    assert sum(s["leaf_depths"].values()) == K
