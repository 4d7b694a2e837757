"""The neural-collapse pass's cost beside training, from CPU measurements of the real model
(a training step vs a no-grad forward per image, and the statistics' accumulation at the
paper's feature widths), and the overhead it implies at one pass every 5 epochs:

    overhead = (forward + accumulate per image) / (5 x training step per image)

    .venv/bin/python bench/collapse_overhead.py      # ~3 minutes on 2 cores
"""

from __future__ import annotations

import json
import time

import torch

from haframe.collapse import FeatureMoments, statistics
from haframe.models.model import build_body

CASES = [  # (backbone, head, input size, batch, K): the paper's models (CPU-sized batches)
    ("wrn28_8", "II", 32, 16, 100),
    ("resnet50", "II", 224, 4, 1010),
    ("resnet50", "I", 224, 4, 1010),
    ("tiny_cnn", "II", 16, 128, 27),
]


def seconds_per_image(step, batch: int, repeats: int) -> float:
    step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / (repeats * batch)


def measure(backbone: str, head: str, size: int, batch: int, K: int) -> dict:
    torch.manual_seed(0)
    body, head_module, dim = build_body(backbone, head, type_II_width=K, type_I_width=600 if head == "I" else K)
    model = torch.nn.Sequential(body, head_module, torch.nn.Linear(dim, K))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images, labels = torch.randn(batch, 3, size, size), torch.randint(0, K, (batch,))

    def train_step():
        model.train()
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    features = model[1](model[0](images)).detach()

    @torch.no_grad()
    def forward():
        model.eval()
        model[2](model[1](model[0](images)))

    moments = FeatureMoments.zeros(K, dim, torch.device("cpu"))
    big = features.repeat(max(1, 256 // batch), 1)  # accumulate in batches of ~256, as evaluation does
    big_labels = torch.randint(0, K, (len(big),))
    repeats = 3 if backbone == "resnet50" else 10
    train = seconds_per_image(train_step, batch, repeats)
    infer = seconds_per_image(forward, batch, repeats)
    accumulate = seconds_per_image(lambda: moments.add(big, big_labels), len(big), 5)
    moments.counts += 1  # every class present for the final statistics
    start = time.perf_counter()
    statistics(
        moments,
        {"haframe": torch.eye(K, dtype=torch.float64), "etf": torch.eye(K, dtype=torch.float64)},
        torch.randn(K, dim),
    )
    final = time.perf_counter() - start
    return {
        "backbone": backbone,
        "head": head,
        "input": size,
        "K": K,
        "feature_dim": dim,
        "train_ms_per_image": round(train * 1e3, 3),
        "forward_ms_per_image": round(infer * 1e3, 3),
        "accumulate_ms_per_image": round(accumulate * 1e3, 4),
        "statistics_seconds": round(final, 3),
        "overhead_every_5_epochs_percent": round(100 * (infer + accumulate) / (5 * train), 1),
    }


def main() -> None:
    torch.set_num_threads(2)
    print(json.dumps({"device": "cpu", "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for case in CASES:
        print(json.dumps(measure(*case)), flush=True)


if __name__ == "__main__":
    main()
