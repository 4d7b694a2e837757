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


IMPORT_TO_PACKAGE = {"yaml": "pyyaml", "PIL": "pillow"}


def third_party_imports() -> set[str]:
    """Top-level modules imported by the library and the rule scripts, stdlib excluded."""
    import ast
    import sys

    modules = set()
    for path in [*(REPO / "src" / "haframe").rglob("*.py"), *(REPO / "scripts").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m not in ("haframe", "__future__")}


def test_every_env_provides_what_the_rule_scripts_import():
    imports = third_party_imports()
    assert {"torch", "torchvision", "numpy", "mlflow", "matplotlib", "yaml", "PIL", "scipy"} <= imports
    for env_file in (REPO / "envs").glob("*.yaml"):
        env = yaml.safe_load(env_file.read_text())
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
        provided = {requirement.split("==")[0].lower() for requirement in pip}
        missing = {IMPORT_TO_PACKAGE.get(m, m).lower() for m in imports} - provided
        assert not missing, f"{env_file.name} lacks {sorted(missing)}"


def test_rule_scripts_import_the_library_without_installing_it():
    # Snakemake puts a script's folder on sys.path; scripts/haframe links to the library, so a
    # --sdm conda env (which has the dependencies but not the project) imports it too.
    link = REPO / "scripts" / "haframe"
    assert link.is_symlink() and link.resolve() == (REPO / "src" / "haframe").resolve()
