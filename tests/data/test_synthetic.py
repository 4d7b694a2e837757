"""haframe.data.kinds.synthetic: the offline dataset, on a planted tree or a given hierarchy,
with appearance partly aligned with the tree."""

import numpy as np
import pytest
import yaml
from conftest import REPO

from haframe.data.kinds import KINDS, PrepareJob, synthetic
from haframe.data.kinds.synthetic import SyntheticSpec, class_prototypes, generate, planted_hierarchy
from haframe.data.prepared import read_classes, read_split
from haframe.hierarchy import Hierarchy

SMALL = dict(branching=(2, 3), train_per_class=4, val_per_class=2, test_per_class=3, image_size=16)


def test_generate_is_deterministic_per_seed():
    h1, a = generate(SyntheticSpec(**SMALL, seed=7))
    h2, b = generate(SyntheticSpec(**SMALL, seed=7))
    _, c = generate(SyntheticSpec(**SMALL, seed=8))
    assert h1 == h2
    assert set(a) == set(b) == set(c) == {"train", "val", "test"}
    for split in a:
        images_a, labels_a = a[split]
        images_b, labels_b = b[split]
        assert images_a.dtype == np.uint8 and images_b.dtype == np.uint8
        assert images_a.tobytes() == images_b.tobytes()
        assert labels_a.tobytes() == labels_b.tobytes()
        images_c, labels_c = c[split]
        assert images_a.tobytes() != images_c.tobytes()  # another seed, other images
        np.testing.assert_array_equal(labels_a, labels_c)  # same label layout


def test_split_sizes_shapes_and_labels():
    spec = SyntheticSpec(**SMALL, seed=0)
    hierarchy, splits = generate(spec)
    K = 6
    assert hierarchy.num_classes == K
    for split, per_class in (("train", 4), ("val", 2), ("test", 3)):
        images, labels = splits[split]
        assert images.shape == (per_class * K, 16, 16, 3)
        assert images.dtype == np.uint8
        assert labels.shape == (per_class * K,)
        assert labels.dtype == np.int64
        np.testing.assert_array_equal(labels, np.repeat(np.arange(K), per_class))
    # images use the byte range without saturating everything
    images = splits["train"][0]
    assert images.std() > 5
    assert (images == 0).mean() < 0.05 and (images == 255).mean() < 0.05


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_at_alignment_1_class_means_get_further_apart_with_hierarchical_distance(seed):
    spec = SyntheticSpec(
        branching=(2, 2, 2),
        train_per_class=300,
        val_per_class=1,
        test_per_class=1,
        image_size=16,
        alignment=1.0,
        seed=seed,
    )
    hierarchy, splits = generate(spec)
    images, labels = splits["train"]
    K = hierarchy.num_classes
    D = hierarchy.distance_matrix()
    means = np.stack([images[labels == k].astype(np.float64).mean(axis=0) for k in range(K)])
    by_distance = {}
    for a in range(K):
        for b in range(a + 1, K):
            pixel_distance = np.sqrt(((means[a] - means[b]) ** 2).mean())
            by_distance.setdefault(int(D[a, b]), []).append(pixel_distance)
    levels = sorted(by_distance)
    assert levels == [1, 2, 3]
    group_means = [np.mean(by_distance[d]) for d in levels]
    assert all(x < y for x, y in zip(group_means, group_means[1:])), group_means


def test_planted_hierarchy():
    h = planted_hierarchy((2, 3))
    assert h.num_classes == 6
    assert h.height == 2
    assert h.classes == tuple(f"c{k:03d}" for k in range(6))
    D = h.distance_matrix()
    # classes 0-2 share a parent, as do 3-5
    expected = np.array([[0 if a == b else (1 if a // 3 == b // 3 else 2) for b in range(6)] for a in range(6)])
    np.testing.assert_array_equal(D, expected)
    h3 = planted_hierarchy((2, 2, 3))
    assert h3.num_classes == 12 and h3.height == 3


def prototype_distances(spec: SyntheticSpec, hierarchy: Hierarchy) -> np.ndarray:
    prototypes = class_prototypes(hierarchy, spec, np.random.default_rng(spec.seed)).reshape(hierarchy.num_classes, -1)
    return np.sqrt(((prototypes[:, None] - prototypes[None]) ** 2).mean(axis=2))


def test_at_the_demo_setting_some_look_alikes_sit_in_distant_branches():
    options = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())["datasets"]["synthetic"]["synthetic"]
    spec = SyntheticSpec.from_options(options)
    assert spec.alignment < 1
    hierarchy = planted_hierarchy(spec.branching)
    D, pixels = hierarchy.distance_matrix(), prototype_distances(spec, hierarchy)
    far = D == hierarchy.height  # meeting only at the root
    siblings = D == 1
    assert pixels[far].min() < pixels[siblings].max()  # a distant look-alike beats some sibling pair
    # and with the tree alone, every sibling pair is closer than every distant pair
    aligned = prototype_distances(SyntheticSpec.from_options({**options, "alignment": 1.0}), hierarchy)
    assert aligned[siblings].max() < aligned[far].min()


def test_a_given_hierarchy_gives_its_classes_in_its_order(tmp_path):
    paths = [
        ["root", "animal", "cat"],
        ["root", "vehicle", "car", "sedan"],
        ["root", "animal", "dog"],
        ["root", "vehicle", "bus"],
        ["root", "vehicle", "car", "coupe"],
    ]
    fixture = synthetic.fixture(tmp_path, hierarchy=Hierarchy.from_paths(paths))
    assert fixture.options["synthetic"]["train_per_class"] == 3
    meta = KINDS["synthetic"].prepare(
        PrepareJob(
            dataset="mine",
            options=fixture.options,
            inputs={},
            hierarchy=fixture.hierarchy,
            meta_file=tmp_path / "data" / "meta.json",
        )
    )
    assert meta["num_classes"] == 5 and meta["transform"] == "none"
    assert read_classes(tmp_path / "data" / "classes.txt") == ["cat", "sedan", "dog", "bus", "coupe"]
    assert not (tmp_path / "data" / "hierarchy.tsv").exists()  # the given hierarchy stays the source
    _, labels = read_split(tmp_path / "data" / "meta.json", "train")
    np.testing.assert_array_equal(labels, np.repeat(np.arange(5), 3))


def test_unknown_synthetic_option_is_named():
    with pytest.raises(ValueError, match="'alignmnet'"):
        SyntheticSpec.from_options({"alignmnet": 0.5})
