"""A small image folder and hierarchy file in the ``folder`` kind's layout, drawn by the
synthetic generator: the data ``config/byo_example.yaml`` runs on as it stands.

    .venv/bin/python -m haframe.data.example_folder data/byo_example

writes ``data/byo_example/images/{train,val,test}/<class>/<image>.png`` and
``data/byo_example/hierarchy.tsv``. Replace both with your own to run your data.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

from ..fileio import atomic_path, write_text
from .kinds.synthetic import SyntheticSpec, generate

EXAMPLE = SyntheticSpec(
    branching=(2, 3),
    train_per_class=40,
    val_per_class=10,
    test_per_class=20,
    image_size=32,
    alignment=0.7,
    noise=1.0,
    seed=0,
)


def write_example(root: str | Path, spec: SyntheticSpec = EXAMPLE) -> dict[str, int]:
    """Write the example under ``root``; returns the images written per split."""
    root = Path(root)
    hierarchy, splits = generate(spec)
    counts = {}
    for split, (images, labels) in splits.items():
        for index, (image, label) in enumerate(zip(images, labels)):
            path = root / "images" / split / hierarchy.classes[label] / f"{split}_{index:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                Image.fromarray(image).save(tmp, format="PNG")
        counts[split] = len(labels)
    write_text(root / "hierarchy.tsv", "# the example's tree: root / n1_<branch> / <class>\n" + hierarchy.to_tsv())
    return counts


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    written = write_example(sys.argv[1])
    print(f"{sys.argv[1]}: {written['train']} / {written['val']} / {written['test']} images and hierarchy.tsv")
