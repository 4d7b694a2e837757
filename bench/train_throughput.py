"""Training throughput (images/s) of the real training step per variant and backbone, with and
without bf16 autocast and channels_last, plus the HAFrame loss step at K = 1010, B = 256
beside a per-class-loop implementation of the same formula. Random inputs: this measures the
model, loss and optimiser step, not data loading (see bench/loader.py).

    .venv/bin/python bench/train_throughput.py            # CPU, small batches
    python bench/train_throughput.py --gpu                # GPU sizes (run on a GPU machine)
    .venv/bin/python bench/train_throughput.py --variants ce_II bilt hiercos --fp32   # a subset

HiE trains no variant of its own: its cost is one more CE model per (dataset, seed) on the
leaves' parents, a ce_II step with a narrower classifier.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from haframe.assets import FRAME_FILES, HIERARCHY_FILES, RunAssets, build_frame_stage, build_hierarchy_stage
from haframe.data.kinds.synthetic import planted_hierarchy
from haframe.methods.haframe import haframe_loss
from haframe.study import Study
from haframe.train import _train_epoch, make_optimizer, prepare_model

VARIANTS = {
    "ce_I": {"method": "ce", "head": "I"},
    "ce_II": {"method": "ce", "head": "II"},
    "flamingo_II": {"method": "flamingo", "head": "II"},
    "hafeature_II": {"method": "hafeature", "head": "II"},
    "haframe": {"method": "haframe", "head": "II", "alpha": 0.4},
    "soft_labels": {"method": "soft_labels", "head": "II", "beta": 10},
    "hxe": {"method": "hxe", "head": "II", "decay": 0.1},
    "bilt": {"method": "bilt", "head": "I", "level_decay": 1.0, "beta": 0.5, "smoothing": 0.5, "sharpness": 1.5},
    "hiercos": {"method": "hiercos", "head": "II", "alpha": 0.001},
}


class RepeatedBatch:
    """A loader that yields one fixed batch ``steps`` times (the step, not the data, is timed)."""

    def __init__(self, images, labels, steps):
        self.images, self.labels, self.steps = images, labels, steps

    def epoch(self, seed=0, epoch=0):
        for _ in range(self.steps):
            yield self.images, self.labels


def planted_assets(root: Path, branching: tuple[int, ...]) -> RunAssets:
    """The hierarchy and frame stages of a planted tree, built and loaded."""
    tsv = root / f"h{len(branching)}" / "source.tsv"
    tsv.parent.mkdir(parents=True, exist_ok=True)
    tsv.write_text(planted_hierarchy(branching).to_tsv())
    hierarchy = {key: tsv.parent / "hierarchy" / name for key, name in HIERARCHY_FILES.items()}
    frames = {key: tsv.parent / "frames" / name for key, name in FRAME_FILES.items()}
    build_hierarchy_stage(tsv, "tsv", hierarchy)
    build_frame_stage(hierarchy["tsv"], hierarchy["distances"], 3.0, "exact", frames)
    return RunAssets.load(
        hierarchy=hierarchy["tsv"],
        distances=hierarchy["distances"],
        levels=hierarchy["levels"],
        haframe=frames["haframe"],
        etf=frames["etf"],
    )


def throughput(
    backbone, size, batch, steps, variant, precision, channels_last, assets, device, compile=None, fused=False
) -> float:
    config = {
        "seeds": [0],
        "variants": {variant: VARIANTS[variant]},
        "evaluation": {"batch_size": batch, "drop_last": False},
        "training": {
            "epochs": 1,
            "batch_size": batch,
            "lr": 0.1,
            "lr_scale": {"backbone": 0.1, "head": 1.0, "classifier": 1.0},
            "momentum": 0.9,
            "weight_decay": 5e-4,
            "backbone": backbone,
            "pretrained": None,
            "feature_dim": None,
            "type_I_width": 600,
            "device": str(device),
            "precision": precision,
            "channels_last": channels_last,
            "deterministic": False,
            "threads": 1,
            "workers": 0,
            "compile": compile,
            "fused_optimizer": fused,
        },
        "datasets": {"bench": {"kind": "synthetic", "frame": {"gamma": 3.0}}},
    }
    run = Study(config).run("bench", variant, 0)
    model = prepare_model(run, assets, device)  # the training path: channels_last, torch.compile
    optimizer = make_optimizer(model, run)
    images = torch.randn(batch, 3, size, size, device=device)
    labels = torch.randint(0, assets.num_classes, (batch,), device=device)
    _train_epoch(model, RepeatedBatch(images, labels, 3), optimizer, run, device, 0)  # warm-up
    return _train_epoch(model, RepeatedBatch(images, labels, steps), optimizer, run, device, 1)["images_per_second"]


def loss_step_ratio(device, K=1010, B=256, repeats=20) -> dict:
    """HAFrame loss forward+backward: vectorised vs a loop over classes (the authors' style)."""
    g = torch.Generator(device="cpu").manual_seed(0)
    W = torch.nn.functional.normalize(torch.randn(K, K, generator=g), dim=1).to(device)
    S = W @ W.T
    h = torch.randn(B, K, generator=g).to(device).requires_grad_()
    y = torch.randint(0, K, (B,), generator=g).to(device)

    def vectorised():
        haframe_loss(h @ W.T, y, features=h, frame=W, similarity=S, alpha=0.4).backward()

    def per_class_loop():
        hn = torch.nn.functional.normalize(h, dim=1)
        pull = 0.0
        for c in range(K):
            pull = pull + ((hn @ torch.nn.functional.normalize(W[c], dim=0) - S[y, c]) ** 2).sum() / B
        (0.6 * torch.nn.functional.cross_entropy(h @ W.T, y) + 0.4 * pull).backward()

    times = {}
    for name, fn in (("vectorised", vectorised), ("per_class_loop", per_class_loop)):
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats if name == "vectorised" else max(2, repeats // 10)):
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times[name] = (time.perf_counter() - start) / (repeats if name == "vectorised" else max(2, repeats // 10))
    return {
        "K": K,
        "B": B,
        "vectorised_ms": round(times["vectorised"] * 1e3, 3),
        "per_class_loop_ms": round(times["per_class_loop"] * 1e3, 1),
        "ratio": round(times["per_class_loop"] / times["vectorised"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), help="only these (default: all)")
    parser.add_argument("--fp32", action="store_true", help="fp32 only")
    parser.add_argument("--compile", metavar="BACKEND", help="torch.compile backend (training.compile), e.g. inductor")
    parser.add_argument("--fused", action="store_true", help="SGD's fused kernel (training.fused_optimizer)")
    parser.add_argument("--backbones", nargs="+", help="only these (default: all)")
    args = parser.parse_args()
    device = torch.device("cuda" if args.gpu else "cpu")
    torch.backends.cudnn.benchmark = True
    root = Path(tempfile.mkdtemp())
    small, large = planted_assets(root, (4, 5, 5)), planted_assets(root, (10, 10, 10))  # K = 100, 1000
    if args.gpu:
        cases = [("resnet50", 224, 128, 20, large), ("wrn28_8", 32, 128, 20, small), ("small_cnn", 32, 256, 20, small)]
        modes = [("fp32", False), ("bf16", False), ("bf16", True)]
    else:
        cases = [("small_cnn", 32, 128, 10, small), ("wrn28_8", 32, 16, 3, small), ("resnet50", 224, 4, 2, large)]
        modes = [("fp32", False), ("bf16", True)]
    if args.fp32:
        modes = [("fp32", False)]
    print(
        json.dumps({"device": torch.cuda.get_device_name(0) if args.gpu else "cpu", "torch": torch.__version__}),
        flush=True,
    )
    for backbone, size, batch, steps, assets in cases:
        if args.backbones and backbone not in args.backbones:
            continue
        variants = args.variants or (list(VARIANTS) if backbone != "resnet50" or args.gpu else ["ce_II", "haframe"])
        for variant in variants:
            for precision, channels_last in modes:
                rate = throughput(
                    backbone,
                    size,
                    batch,
                    steps,
                    variant,
                    precision,
                    channels_last,
                    assets,
                    device,
                    args.compile,
                    args.fused,
                )
                print(
                    json.dumps(
                        {
                            "backbone": backbone,
                            "input": size,
                            "batch": batch,
                            "variant": variant,
                            "precision": precision,
                            "channels_last": channels_last,
                            "compile": args.compile,
                            "fused_optimizer": args.fused,
                            "images_per_second": round(rate, 1),
                        }
                    ),
                    flush=True,
                )
    print(json.dumps({"haframe_loss_step": loss_step_ratio(device)}), flush=True)


if __name__ == "__main__":
    main()
