"""README's commands work as written, on a fresh copy of the repository: those of them that need
no network, no server and no training (the others run in the DAG tests and `make demo`)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.dag

# In the order a new user meets them; each must appear verbatim in a README code block.
COMMANDS = [
    ".venv/bin/snakemake -n",
    ".venv/bin/snakemake --profile profiles/slurm -n",
    ".venv/bin/snakemake --cores 1 snapshot",
    ".venv/bin/python -m haframe.data.example_folder data/byo_example",
    ".venv/bin/snakemake -n --configfile config/byo_example.yaml",
    ".venv/bin/python -m haframe.summary config/config.yaml config/fast.yaml",
]


def readme_commands() -> set[str]:
    """Every line of README's fenced code blocks, without its trailing comment."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    return {line.split("  #")[0].strip() for block in blocks for line in block.splitlines()}


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> Path:
    """The tracked project files a clone has (no results, no data, no ../shared)."""
    root = tmp_path_factory.mktemp("clone") / "haframe"
    for name in ("workflow", "config", "profiles", "scripts", "envs", "bench"):
        shutil.copytree(REPO / name, root / name)
    return root


def test_the_kept_commands_are_the_readme_s():
    missing = [command for command in COMMANDS if command not in readme_commands()]
    assert not missing, f"README no longer has {missing}: update README or this list"


def test_each_command_runs_on_a_fresh_clone(fresh_clone):
    venv = Path(sys.executable).parent
    for command in COMMANDS:
        argv = command.replace(".venv/bin/", f"{venv}/").split()
        result = subprocess.run(argv, cwd=fresh_clone, capture_output=True, text=True, timeout=300)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{command}:\n{output[-3000:]}"
        assert "Shell command: None" not in output, command
    summary = (fresh_clone / "results/paper/report/snapshot/snapshot.md").read_text()
    assert "tiered_imagenet: not run: the ImageNet ILSVRC-2012 files are not set" in summary


def test_the_slurm_dry_run_warns_about_the_unedited_placeholders(fresh_clone):
    venv = Path(sys.executable).parent
    result = subprocess.run(
        [f"{venv}/snakemake", "--profile", "profiles/slurm", "-n"],
        cwd=fresh_clone,
        capture_output=True,
        text=True,
        timeout=300,
    )
    tail = result.stderr[result.stderr.index("Study 'paper'") :]
    assert "Warning: the SLURM profile still has its placeholders (slurm_partition='YOUR_PARTITION'" in tail
