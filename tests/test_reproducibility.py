"""Same seed, two fresh processes, DataLoader workers > 0: identical metrics (image layout)."""

import json
import subprocess
import sys

from test_byo_folder import HIERARCHY, write_folder

SCRIPT = """
import json, sys
from haframe.evaluate import evaluate_run
from haframe.train import train_run
root, out = sys.argv[1], sys.argv[2]
run = json.loads(open(root + "/run.json").read())
train_run(run, data_dir=root + "/data", hierarchy_dir=root + "/hierarchy", frames_dir=root + "/frames",
          out_dir=out, resume_dir=out + "/resume", threads=1, log=lambda m: None)
evaluate_run(checkpoint=out + "/checkpoint.pt", data_dir=root + "/data", hierarchy_dir=root + "/hierarchy",
             frames_dir=root + "/frames", metrics_file=out + "/metrics.json", predictions_file=out + "/p.npz")
"""


def test_two_fresh_processes_with_workers_give_identical_metrics(tmp_path):
    from haframe.config import resolve_run
    from haframe.data import folder
    from haframe.stages import parse_hierarchy, solve_frames
    from conftest import tiny_config

    write_folder(tmp_path / "images")
    (tmp_path / "hierarchy.tsv").write_text("".join(f"root\t{p[0]}\t{leaf}\n" for leaf, p in HIERARCHY.items()))
    parse_hierarchy(tmp_path / "hierarchy.tsv", "tsv", tmp_path / "hierarchy")
    solve_frames(tmp_path / "hierarchy/hierarchy.tsv", tmp_path / "hierarchy/distances.npy", 1.0, "grid", tmp_path / "frames")
    folder.prepare(tmp_path / "images", tmp_path / "data", list(HIERARCHY), input_size=32)
    config = tiny_config(seeds=[3])
    config["datasets"] = {"mine": {"kind": "folder", "frame": {"gamma": 1.0},
                                   "training": {"epochs": 2, "batch_size": 8, "workers": 2}}}
    run = resolve_run(config, "mine", "haframe", 3)
    (tmp_path / "run.json").write_text(json.dumps(run))
    results = []
    for name in ("first", "second"):
        out = tmp_path / name
        subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), str(out)], check=True)
        results.append(json.loads((out / "metrics.json").read_text()))
        assert (out / "history.csv").read_text().count("\n") == 3
    assert results[0] == results[1]
    assert results[0]["n_test"] == 12
