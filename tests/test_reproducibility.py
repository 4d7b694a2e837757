"""Same seed, two fresh processes, DataLoader workers > 0: identical metrics (image layout)."""

import json
import subprocess
import sys

SCRIPT = """
import json, sys
from haframe.assets import RunAssets
from haframe.evaluate import evaluate_run
from haframe.runs import RunSpec
from haframe.train import train_run
root, out = sys.argv[1], sys.argv[2]
run = RunSpec.from_dict(json.loads(open(root + "/run.json").read()))
assets = RunAssets.load(hierarchy=root + "/hierarchy/hierarchy.tsv", distances=root + "/hierarchy/distances.npy",
                        levels=root + "/hierarchy/levels.npy", haframe=root + "/frames/haframe.npz",
                        etf=root + "/frames/etf.npz")
train_run(run, assets, data=root + "/data/meta.json", checkpoint=out + "/checkpoint.pt", history=out + "/history.csv",
          nc=out + "/nc.csv", config=out + "/config.yaml", resume_dir=out + "/resume", threads=1, log=lambda m: None)
evaluate_run(checkpoint=out + "/checkpoint.pt", assets=assets, data=root + "/data/meta.json",
             metrics_file=out + "/metrics.json", predictions_file=out + "/p.npz")
"""


def test_two_fresh_processes_with_workers_give_identical_metrics(tmp_path):
    from conftest import tiny_config

    from haframe.assets import FRAME_FILES, HIERARCHY_FILES, build_frame_stage, build_hierarchy_stage
    from haframe.data.kinds import folder
    from haframe.study import Study

    fixture = folder.fixture(tmp_path / "images")
    (tmp_path / "hierarchy.tsv").write_text(fixture.hierarchy.to_tsv())
    hierarchy = {key: tmp_path / "hierarchy" / name for key, name in HIERARCHY_FILES.items()}
    build_hierarchy_stage(tmp_path / "hierarchy.tsv", "tsv", hierarchy)
    frame = {key: tmp_path / "frames" / name for key, name in FRAME_FILES.items()}
    build_frame_stage(hierarchy["tsv"], hierarchy["distances"], 1.0, "grid", frame)
    folder.prepare(tmp_path / "images", tmp_path / "data", fixture.hierarchy.classes, input_size=32)
    config = tiny_config(seeds=[3])
    config["datasets"] = {
        "mine": {
            "kind": "folder",
            "folder": str(tmp_path / "images"),
            "frame": {"gamma": 1.0},
            "hierarchy": {"source": str(tmp_path / "hierarchy.tsv"), "format": "tsv"},
            "training": {"epochs": 2, "batch_size": 8, "workers": 2},
        }
    }
    run = Study(config).run("mine", "haframe", 3)
    (tmp_path / "run.json").write_text(json.dumps(run.to_dict()))
    results = []
    for name in ("first", "second"):
        out = tmp_path / name
        subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), str(out)], check=True)
        results.append(json.loads((out / "metrics.json").read_text()))
        assert (out / "history.csv").read_text().count("\n") == 3
    assert results[0] == results[1]
    assert results[0]["n_test"] == 12
