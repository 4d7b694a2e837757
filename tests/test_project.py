"""Project-level checks: lint, pinned environments consistent with pyproject."""

import re
import subprocess
import tomllib

import yaml

from conftest import REPO, SNAKEMAKE


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    for requirement in project["dependencies"]:
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", requirement).groups()
        pins[name.lower()] = version
    return pins


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert all("==" in r for r in project["dependencies"]), project["dependencies"]


def test_conda_envs_pin_the_same_versions_as_pyproject():
    pins = pyproject_pins()
    env_files = sorted((REPO / "envs").glob("*.yaml"))
    assert env_files
    for env_file in env_files:
        env = yaml.safe_load(env_file.read_text())
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
        for requirement in pip:
            name, version = requirement.split("==")
            assert pins.get(name.lower()) == version, f"{env_file.name}: {requirement} vs pyproject {pins.get(name.lower())}"


def test_every_rule_uses_a_conda_env_file_that_exists():
    for rule_file in (REPO / "workflow" / "rules").glob("*.smk"):
        text = rule_file.read_text()
        rules = re.findall(r"^rule (\w+):", text, flags=re.M)
        assert text.count("conda:") == len(rules), rule_file.name
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    env = re.search(r'ENV = "\.\./\.\./(envs/[\w.]+)"', common).group(1)
    assert (REPO / env).is_file()


def test_snakemake_lint_is_clean():
    result = subprocess.run(
        [str(SNAKEMAKE), "--lint", "--configfile", "config/demo.yaml"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr
