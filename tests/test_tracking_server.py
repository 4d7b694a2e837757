"""Concurrent importers of one study into an http:// tracking server (a local `mlflow server`):
nothing duplicated, nothing lost."""

import subprocess
import sys
import textwrap

import pytest

from conftest import mlflow_runs, mlflow_server

pytestmark = pytest.mark.dag

IMPORT = textwrap.dedent("""
    import sys
    from haframe.tracking import import_run
    run_dir, uri, lock_dir = sys.argv[1:]
    import_run(config=f"{run_dir}/config.yaml", history=f"{run_dir}/history.csv", nc=f"{run_dir}/nc.csv",
               metrics=f"{run_dir}/metrics.json", tracking_uri=uri, experiment="tiny", lock_dir=lock_dir)
""")


def test_eight_concurrent_importers_leave_one_run_per_identity(tiny_study, tmp_path):
    runs = tiny_study / "results/tiny/synthetic/runs"
    run_dirs = [runs / "haframe/seed0"] * 4 + [runs / f"{v}/seed{s}" for v, s in (("ce_II", 0), ("ce_II", 1), ("haframe", 1), ("ce_I", 0))]
    with mlflow_server(tmp_path / "server.db", tmp_path / "artifacts") as uri:
        importers = [subprocess.Popen([sys.executable, "-c", IMPORT, str(run_dir), uri, str(tmp_path / "results")],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for run_dir in run_dirs]
        outputs = [process.communicate(timeout=240)[0] for process in importers]
        assert [process.returncode for process in importers] == [0] * 8, "\n".join(outputs)[-4000:]
        client, active = mlflow_runs(uri)
        identities = sorted(run.data.tags["haframe.identity"] for run in active)
        assert identities == sorted({f"synthetic/{d.parent.name}/{d.name}" for d in run_dirs})  # each once
        for run in active:
            assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"config.yaml", "history.csv", "metrics.json", "nc.csv"}
            assert client.get_metric_history(run.info.run_id, "val_top1_error")
