"""Project-level checks: pins, the environment each rule runs in, lint, the import graph."""

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SNAKEMAKE

IMPORT_TO_PACKAGE = {"yaml": "pyyaml", "PIL": "pillow"}


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    for requirement in project["dependencies"]:
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", requirement).groups()
        pins[name.lower()] = version
    return pins


def env_packages(env_file: Path) -> dict[str, str]:
    env = yaml.safe_load(env_file.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return dict(requirement.lower().split("==") for requirement in pip)


def workflow_rules() -> list:
    """The workflow's rules as Snakemake itself parses them (demo config)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, ResourceSettings, StorageSettings

    with SnakemakeApi() as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[REPO / "config" / "demo.yaml"]),
            storage_settings=StorageSettings(),
            snakefile=REPO / "workflow" / "Snakefile",
            workdir=REPO,
        )
        return [rule for rule in workflow._workflow.rules if rule.script]


def module_file(name: str) -> Path | None:
    """The source file of a haframe module (``haframe.x.y``), or None for a package-less name."""
    path = REPO / "src" / Path(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(path: Path, package: str | None) -> set[str]:
    """Every module a file imports, anywhere in it (function-local imports too), absolute."""
    return imports_in(ast.walk(ast.parse(path.read_text())), package)


def imports_in(nodes, package: str | None) -> set[str]:
    """Absolute module names of the import statements among ``nodes``."""
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.add(module)
            names |= {f"{module}.{alias.name}" for alias in node.names}  # submodules imported by name
    return names


def third_party_closure(script: Path) -> set[str]:
    """Top-level third-party modules a rule script needs, following the haframe modules it
    imports (and what they import, transitively), and every module of a registry package
    (data.kinds, methods: an ``__init__`` that imports its modules through pkgutil)."""
    seen, third_party, todo = set(), set(), [(script, None)]
    while todo:
        path, package = todo.pop()
        names = imports_of(path, package)
        if path.name == "__init__.py" and "pkgutil.iter_modules(__path__)" in path.read_text():
            names |= {
                f"{package}.{p.name.removesuffix('.py')}"
                for p in path.parent.iterdir()
                if p.name != "__init__.py" and (p.suffix == ".py" or (p / "__init__.py").is_file())
            }
        for name in names:
            top = name.split(".")[0]
            if top == "haframe":
                found = module_file(name)
                if found is not None and found not in seen:
                    seen.add(found)
                    todo.append((found, name if found.name == "__init__.py" else name.rsplit(".", 1)[0]))
            elif top not in sys.stdlib_module_names and top != "__future__":
                third_party.add(top)
    return third_party


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert all("==" in r for r in project["dependencies"]), project["dependencies"]


def test_conda_envs_pin_the_same_versions_as_pyproject():
    pins = pyproject_pins()
    env_files = sorted((REPO / "envs").glob("*.yaml"))
    assert env_files
    for env_file in env_files:
        for name, version in env_packages(env_file).items():
            assert pins.get(name) == version, f"{env_file.name}: {name}=={version} vs pyproject {pins.get(name)}"


def test_every_rule_runs_in_an_env_that_provides_what_its_script_imports():
    # exactly: an env file holds the union of what its rules' scripts import, nothing more
    rules = workflow_rules()
    assert {"train", "evaluate", "parse_hierarchy", "report_dataset", "import_run"} <= {r.name for r in rules}
    needs: dict[Path, set[str]] = {}
    users: dict[Path, list[str]] = {}
    for rule in rules:
        assert rule.conda_env, f"rule {rule.name} has no conda env"
        env_file = (Path(rule.basedir) / str(rule.conda_env)).resolve()
        script = (Path(rule.basedir) / rule.script).resolve()
        assert env_file.is_file() and script.is_file(), rule.name
        needed = {IMPORT_TO_PACKAGE.get(m, m).lower() for m in third_party_closure(script)}
        missing = needed - set(env_packages(env_file))
        assert not missing, f"rule {rule.name}: {env_file.name} lacks {sorted(missing)} ({script.name} imports them)"
        needs.setdefault(env_file, set()).update(needed)
        users.setdefault(env_file, []).append(rule.name)
    for env_file, needed in needs.items():
        extra = set(env_packages(env_file)) - needed
        assert not extra, f"{env_file.name}: {sorted(extra)} not imported by its rules {users[env_file]}"
    unused = set((REPO / "envs").glob("*.yaml")) - set(needs)
    assert not unused, f"no rule uses {sorted(p.name for p in unused)}"


def test_the_rules_of_the_torch_free_stages_run_in_envs_without_torch():
    # download, extract, hierarchy, frames, report, MLflow import: their envs skip the ~6 GB
    # torch stack. Of data.smk only the preparation needs it (its dataset kinds import
    # haframe.data.transforms); train.smk's weight download does not.
    stages = {"data", "hierarchy", "frames", "report", "track"}
    preparation = {"prepare_synthetic", "prepare_dataset"}
    rules = [
        r
        for r in workflow_rules()
        if (Path(r.snakefile).stem in stages and r.name not in preparation) or r.name == "download_weights"
    ]
    assert {
        "download_source",
        "extract_source",
        "download_hierarchy",
        "parse_hierarchy",
        "solve_frame",
        "report_dataset",
        "report_study",
        "snapshot",
        "import_run",
        "import_report",
    } <= {r.name for r in rules}
    for rule in rules:
        env_file = (Path(rule.basedir) / str(rule.conda_env)).resolve()
        heavy = {"torch", "torchvision"} & set(env_packages(env_file))
        assert not heavy, f"rule {rule.name} runs in {env_file.name}, which has {sorted(heavy)}"


def test_the_closure_follows_the_library_into_its_dependencies():
    # the check above is only as good as this: train.py reaches torch through haframe.train only
    assert {"torch", "numpy", "yaml"} <= third_party_closure(REPO / "scripts" / "train.py")
    assert "mlflow" in third_party_closure(REPO / "scripts" / "import_run.py")
    # ... and into the registries' modules: image datasets' preparation decodes with PIL
    assert "PIL" in third_party_closure(REPO / "scripts" / "prepare.py")


def test_snakemake_lint_is_clean():
    result = subprocess.run(
        [str(SNAKEMAKE), "--lint", "--configfile", "config/demo.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_rule_scripts_find_the_library_through_snakemake_s_search_path(tmp_path):
    # A job's script runs in another interpreter (a --sdm conda env, a SLURM node) that has
    # not installed the project; Snakemake's script preamble extends its sys.path with the
    # Snakemake process's own (snakemake.script, get_snakemake_searchpaths), where the editable
    # install put src/. Reproduce that: an interpreter without site-packages (python -S).
    from snakemake.common import get_snakemake_searchpaths

    paths = get_snakemake_searchpaths()
    assert str(REPO / "src") in paths
    probe = f"import sys; sys.path.extend({paths!r}); import haframe.assets; print(haframe.assets.__file__)"
    result = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(REPO / "src" / "haframe" / "assets.py")


def test_evaluation_does_not_import_training():
    probe = "import haframe.evaluate, sys; assert 'haframe.train' not in sys.modules, 'haframe.train imported'"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "module", ["haframe.runs", "haframe.assets", "haframe.report.build", "haframe.tracking", "haframe.data.prepared"]
)
def test_modules_for_torch_free_rules_do_not_import_torch(module):
    probe = f"import {module}, sys; assert 'torch' not in sys.modules, 'torch imported'"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def module_level_imports(path: Path, package: str) -> set[str]:
    """haframe modules a module imports when it is imported (not in functions, not for typing)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        names |= {n for n in imports_in([node], package) if n.startswith("haframe") and module_file(n) is not None}
    return names


def test_the_library_has_no_import_cycle():
    modules = {}
    for path in (REPO / "src" / "haframe").rglob("*.py"):
        parts = path.relative_to(REPO / "src").with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        modules[name] = module_level_imports(path, package) - {name}
    state, stack = {}, []

    def visit(name):  # depth-first search; a grey node met again closes a cycle
        state[name] = "grey"
        stack.append(name)
        for other in sorted(modules.get(name, ())):
            if state.get(other) == "grey":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(other) :] + [other]))
            if other not in state:
                visit(other)
        stack.pop()
        state[name] = "black"

    for name in sorted(modules):
        if name not in state:
            visit(name)


def test_the_license_is_the_one_pyproject_names():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"]["text"]
    assert declared == "MIT" and (REPO / "LICENSE").read_text().startswith("MIT License\n")


def test_no_shipped_file_points_outside_the_repository():
    """Issue 26: the library, workflow, configs, scripts and docs name nothing beside the clone
    (the tests may read ../shared/reference where it exists: tests/reference_files.py)."""
    shipped = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    outside = [
        path
        for path in shipped
        if not path.startswith("tests/")
        and (REPO / path).is_file()
        and re.search(r"\.\./shared|/work/", (REPO / path).read_text(errors="replace"))
    ]
    assert outside == []
