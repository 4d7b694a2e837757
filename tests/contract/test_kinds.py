"""Every dataset kind (``haframe.data.kinds.KINDS``, read when pytest collects: a new kind
module is covered with no edit here) prepares its own ``fixture`` as the workflow would: its
sources extracted with ``safe_extract``, its user inputs from ``user_inputs``, then ``prepare``;
the prepared dataset's meta, classes and splits are what the fixture says, and the loaders
read every split."""

from pathlib import Path

import numpy as np
import pytest
import torch

from haframe.archives import safe_extract
from haframe.data.kinds import KINDS, KindFixture, PrepareJob
from haframe.data.loaders import make_loader
from haframe.data.prepared import SPLITS, read_classes, read_meta
from haframe.hierarchy import read_tsv


@pytest.mark.parametrize("name", sorted(KINDS))
def test_kind_prepares_its_fixture(name, tmp_path):
    kind = KINDS[name]
    fx = kind.fixture(tmp_path / "fixture")
    assert isinstance(fx, KindFixture)
    assert set(fx.sources) == set(kind.sources), "the fixture writes every source of the kind"
    assert set(fx.options) <= set(kind.options) and {
        name for name, option in kind.options.items() if option.required
    } <= set(fx.options)
    assert fx.hierarchy is not None or kind.plants_hierarchy
    assert set(fx.counts) == set(kind.splits) and set(kind.splits) <= set(SPLITS)
    if kind.unavailable is not None:
        assert kind.unavailable(fx.options, name) is None

    # as the workflow's extract_source and prepare_inputs give them
    inputs = {
        key: safe_extract(path, tmp_path / "extracted" / f"{kind.sources[key].filename}.d")
        for key, path in fx.sources.items()
    }
    if kind.user_inputs is not None:
        inputs.update({key: Path(value) for key, value in kind.user_inputs(fx.options, name).items()})
    meta_file = tmp_path / "data" / "meta.json"
    meta = kind.prepare(
        PrepareJob(dataset=name, options=fx.options, inputs=inputs, hierarchy=fx.hierarchy, meta_file=meta_file)
    )

    assert meta == read_meta(meta_file)
    hierarchy = fx.hierarchy
    if hierarchy is None:  # planted: written beside the data, as the workflow's prepare_synthetic declares
        hierarchy = read_tsv(meta_file.with_name("hierarchy.tsv"))
        if kind.planted_tree is not None:
            assert kind.planted_tree(fx.options) == hierarchy
    assert read_classes(meta_file.with_name("classes.txt")) == list(hierarchy.classes)
    assert meta["num_classes"] == hierarchy.num_classes
    assert meta["counts"] == {split: images for split, (images, _) in fx.counts.items()}
    sizes = kind.split_sizes(fx.options)
    assert sizes is None or sizes == meta["counts"]
    for split, (images, classes) in fx.counts.items():
        loader = make_loader(meta_file, split, train=False, batch_size=64, device=torch.device("cpu"))
        labels = []
        for batch, batch_labels in loader.epoch():
            assert batch.dtype == torch.float32 and batch.shape[1:] == (3, meta["image_size"], meta["image_size"])
            assert torch.isfinite(batch).all()
            labels += batch_labels.tolist()
        assert len(labels) == images and len(np.unique(labels)) == classes, split
        assert all(0 <= label < hierarchy.num_classes for label in labels)
