"""The study configuration, checked and resolved into one ``RunSpec`` per (dataset, variant, seed).

Precedence for a run's values (later wins): ``training`` < ``datasets.<d>.training`` < the
variant's ``training`` < ``datasets.<d>.variants.<v>``. The workflow builds one ``Study`` from
its config after the JSON schema has checked the shapes; ``Study`` checks what a schema cannot
(method hyper-parameters, types the code relies on, what each dataset kind needs) and raises
``ConfigError`` naming the field, before any job runs.
"""

from __future__ import annotations

import copy
import math
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Mapping

import yaml

from .data.kinds import KINDS, DatasetKind
from .hierarchy import HierarchyError, TreeShape
from .io import sha256_of
from .methods import METHODS, POSTHOC_RULES, get_method, posthoc_chain
from .methods.base import AuxiliaryModel
from .parsers import read_hierarchy
from .runs import ConfigError, Evaluation, FrameSpec, RunSpec, Training, typed

VARIANT_KEYS = {"method", "head", "posthoc", "training", "seeds"}  # the rest are the method's parameters
KIND_OPTIONS = {option for kind in KINDS.values() for option in kind.options}  # keys only some kinds read


def merge(base: Mapping, override: Mapping | None) -> dict:
    """Recursive dict merge; ``override`` wins."""
    out = copy.deepcopy(dict(base))
    for key, value in (override or {}).items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class Study:
    """The configured study: its datasets, variants, seeds and resolved runs."""

    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        self._runs: dict[tuple[str, str, int], RunSpec] = {}
        self._cache: dict[tuple[str, str], dict] = {}
        self._validate()

    @property
    def name(self) -> str:
        """The study's name: its results folder and MLflow experiment (the workflow defaults it
        to the config file's name)."""
        return self.config.get("study") or "study"

    @property
    def datasets(self) -> list[str]:
        return list(self.config["datasets"])

    def dataset(self, dataset: str) -> Mapping[str, Any]:
        """The dataset's own section of the config (kind, sources, hierarchy, frame, ...)."""
        return self.config["datasets"][dataset]

    def kind(self, dataset: str) -> DatasetKind:
        return KINDS[self.dataset(dataset)["kind"]]

    def split_sizes(self, dataset: str) -> dict[str, int] | None:
        """Images per split before preparation ({train, val, test}; None where not known)."""
        key = ("split_sizes", dataset)
        if key not in self._cache:
            self._cache[key] = self.kind(dataset).split_sizes(self.dataset(dataset))
        return self._cache[key]

    def prepared_disk_mb(self, dataset: str) -> float:
        """Room the prepared dataset needs: its kind's, plus its pixel store (``store: pixels``:
        size x size x 3 bytes per image) where sizes are known."""
        section, sizes = self.dataset(dataset), self.split_sizes(dataset)
        if section.get("store") != "pixels" or sizes is None:
            return self.kind(dataset).disk_mb
        size = section.get("input_size", 224)
        return self.kind(dataset).disk_mb + sum(sizes.values()) * size * size * 3 / 2**20

    def unavailable_datasets(self) -> dict[str, str]:
        """{dataset: why it cannot be built yet} for the datasets whose user inputs are unset."""
        reasons = {}
        for dataset in self.datasets:
            check = self.kind(dataset).unavailable
            reason = check(self.dataset(dataset), dataset) if check else None
            if reason:
                reasons[dataset] = reason
        return reasons

    def plants_hierarchy(self, dataset: str) -> bool:
        """Whether the dataset's preparation writes its hierarchy (no ``hierarchy`` section given)."""
        return self.kind(dataset).plants_hierarchy and "hierarchy" not in self.dataset(dataset)

    def variants(self, dataset: str) -> list[str]:
        """Variants trained on ``dataset``: the keys of its ``variants`` map, else all variants."""
        chosen = self.dataset(dataset).get("variants")
        return list(chosen) if chosen else list(self.config["variants"])

    def seeds(self, dataset: str, variant: str) -> list[int]:
        """Seeds of one variant on one dataset: the variant's, else the dataset's, else global."""
        spec = self._variant_spec(dataset, variant)
        return list(spec.get("seeds") or self.dataset(dataset).get("seeds") or self.config["seeds"])

    def run(self, dataset: str, variant: str, seed: int) -> RunSpec:
        """The complete, checked specification of one run (a variant's or an auxiliary model's)."""
        key = (dataset, variant, int(seed))
        if key not in self._runs:
            if variant in self.config["variants"]:
                self._runs[key] = self._resolve(dataset, variant, int(seed))
            else:
                auxiliary = self._auxiliary_runs(dataset)
                if key[1:] not in auxiliary:
                    raise ConfigError(f"datasets.{dataset}: no variant or auxiliary model {variant!r} with seed {seed}")
                self._runs[key] = auxiliary[key[1:]]
        return self._runs[key]

    def runs(self, dataset: str) -> list[RunSpec]:
        """The variants' runs of a dataset (what the tables report)."""
        return [self.run(dataset, v, s) for v in self.variants(dataset) for s in self.seeds(dataset, v)]

    def training_runs(self, dataset: str) -> list[RunSpec]:
        """Every run to train on a dataset: the variants' and the auxiliary models' they need."""
        return self.runs(dataset) + list(self._auxiliary_runs(dataset).values())

    def auxiliary_runs_of(self, run: RunSpec) -> dict[str, RunSpec]:
        """The auxiliary models the run's post-hoc chains need, by their name."""
        return {
            rule.auxiliary.name: self.run(run.dataset, auxiliary_variant(rule.auxiliary, run), run.seed)
            for chain in run.posthoc for rule in posthoc_chain(chain) if rule.auxiliary is not None
        }

    def auxiliary_variants(self) -> list[str]:
        return sorted({variant for dataset in self.datasets for variant, _ in self._auxiliary_runs(dataset)})

    # ------------------------------------------------------------------ resolution

    def _variant_spec(self, dataset: str, variant: str) -> dict:
        """The variant's values with the dataset's overrides applied."""
        if variant not in self.config["variants"]:
            raise ConfigError(
                f"datasets.{dataset}.variants.{variant}: unknown variant {variant!r}; defined: {sorted(self.config['variants'])}"
            )
        override = (self.dataset(dataset).get("variants") or {}).get(variant) or {}
        return merge(self.config["variants"][variant], override)

    def _resolve(self, dataset: str, variant: str, seed: int) -> RunSpec:
        where = f"datasets.{dataset}.variants.{variant}"
        spec = self._variant_spec(dataset, variant)
        method = get_method(spec["method"])
        section = self.dataset(dataset)
        training = merge(merge(self.config["training"], section.get("training")), spec.get("training"))
        return RunSpec(
            dataset=dataset,
            dataset_kind=section["kind"],
            variant=variant,
            seed=seed,
            method=method.name,
            head=spec["head"],
            params=method.resolve_params({k: v for k, v in spec.items() if k not in VARIANT_KEYS}, where),
            posthoc=tuple(spec.get("posthoc") or ()),
            frame=typed(FrameSpec, section["frame"], f"datasets.{dataset}.frame"),
            training=typed(Training, training, f"{where} (merged) training"),
            evaluation=typed(Evaluation, self.config["evaluation"], "evaluation"),
        )

    def _auxiliary_runs(self, dataset: str) -> dict[tuple[str, int], RunSpec]:
        """{(auxiliary variant, seed): run}: an auxiliary model takes the recipe of the variant it
        amends; variants that share one (same name, head and seed) must agree on that recipe."""
        key = ("auxiliary", dataset)
        if key not in self._cache:
            found: dict[tuple[str, int], RunSpec] = {}
            requested_by: dict[tuple[str, int], str] = {}
            for run in self.runs(dataset):
                for chain in run.posthoc:
                    for rule in posthoc_chain(chain):
                        if rule.auxiliary is None:
                            continue
                        auxiliary = _auxiliary_run(rule.auxiliary, run)
                        slot = (auxiliary.variant, run.seed)
                        if slot in found and found[slot].identity_hash() != auxiliary.identity_hash():
                            raise ConfigError(
                                f"datasets.{dataset}: variants {requested_by[slot]!r} and {run.variant!r} share the "
                                f"auxiliary model {auxiliary.variant!r} but train with different recipes; give them the same "
                                "training values"
                            )
                        found[slot], requested_by[slot] = auxiliary, run.variant
            self._cache[key] = found
        return self._cache[key]

    # ------------------------------------------------------------------ checks

    def _validate(self) -> None:
        if not self.config.get("datasets"):
            raise ConfigError("datasets: at least one dataset is required")
        unknown_kinds = sorted({d["kind"] for d in self.config["datasets"].values()} - set(KINDS))
        if unknown_kinds:
            raise ConfigError(f"datasets: unknown kind {unknown_kinds[0]!r}; known: {sorted(KINDS)}")
        self._check_seeds(self.config.get("seeds"), "seeds")
        for name, spec in self.config["variants"].items():
            self._check_seeds(spec.get("seeds"), f"variants.{name}.seeds")
        for dataset, section in self.config["datasets"].items():
            self._check_seeds(section.get("seeds"), f"datasets.{dataset}.seeds")
            for variant, override in (section.get("variants") or {}).items():
                self._check_seeds((override or {}).get("seeds"), f"datasets.{dataset}.variants.{variant}.seeds")
        for name, spec in self.config["variants"].items():
            self._check_variant(f"variants.{name}", spec)
        self._check_training(self.config["training"], "training")
        for dataset, section in self.config["datasets"].items():
            self._check_dataset(dataset, section)
            self._check_training(section.get("training"), f"datasets.{dataset}.training")
            for variant in self.variants(dataset):
                where = f"datasets.{dataset}.variants.{variant}"
                if not self.seeds(dataset, variant):
                    raise ConfigError(f"{where}: at least one seed is required")
                self._check_variant(where, self._variant_spec(dataset, variant))
                self._check_data_path(self.run(dataset, variant, 0), where)
                self._check_steps(self.run(dataset, variant, 0), where)
            self.check_tree(dataset, self._config_tree(dataset))
            clash = set(self.config["variants"]) & {variant for variant, _ in self._auxiliary_runs(dataset)}
            if clash:
                raise ConfigError(f"variants.{sorted(clash)[0]}: the name is taken by an auxiliary model")

    @staticmethod
    def _check_seeds(seeds: Any, where: str) -> None:
        """Seeds name runs (``seed3``) and seed generators: integers >= 0 (``int(0.5)`` would
        silently train seed 0)."""
        if seeds is None:
            return
        if not isinstance(seeds, list):
            raise ConfigError(f"{where}: expected a list of integers >= 0, got {seeds!r}")
        for i, seed in enumerate(seeds):
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ConfigError(f"{where}[{i}]: expected an integer >= 0, got {seed!r}")

    def _config_tree(self, dataset: str) -> TreeShape | None:
        """What the config alone tells of the dataset's tree: the tree its kind plants, else its
        ``classes`` and ``height`` (the hierarchy stage checks the tree against them)."""
        section = self.dataset(dataset)
        kind = self.kind(dataset)
        if self.plants_hierarchy(dataset) and kind.planted_tree is not None:
            return TreeShape.of(kind.planted_tree(section), f"its planted tree (datasets.{dataset}.{kind.name})")
        if section.get("classes") is None and section.get("height") is None:
            return None
        origin = " and ".join(f"datasets.{dataset}.{key}" for key in ("classes", "height") if section.get(key) is not None)
        return TreeShape(section.get("classes"), section.get("height"), origin)

    def check_tree(self, dataset: str, tree: TreeShape | None) -> None:
        """Refuse, naming the field where it is set, a value of a run on ``dataset`` that its tree
        cannot take (``Method.tree_problems``: e.g. margin levels above the tree's height, a
        frame's feature width below K)."""
        if tree is None:
            return
        for variant in self.variants(dataset):
            run = self.run(dataset, variant, 0)
            for key, problem in get_method(run.method).tree_problems(run, tree).items():
                raise ConfigError(f"{self._where_set(dataset, variant, key)}: {problem} (dataset {dataset!r}: {tree.describe()})")

    def _where_set(self, dataset: str, variant: str, key: str) -> str:
        """The config path that gives a run of ``variant`` on ``dataset`` its value of ``key`` (a
        method parameter, or ``training.<field>``): the section of highest precedence that sets it."""
        override = (self.dataset(dataset).get("variants") or {}).get(variant) or {}
        spec = self.config["variants"][variant]
        if key.startswith("training."):
            field = key.removeprefix("training.")
            for where, section in ((f"datasets.{dataset}.variants.{variant}.training", override.get("training")),
                                   (f"variants.{variant}.training", spec.get("training")),
                                   (f"datasets.{dataset}.training", self.dataset(dataset).get("training"))):
                if field in (section or {}):
                    return f"{where}.{field}"
            return key
        return f"datasets.{dataset}.variants.{variant}.{key}" if key in override else f"variants.{variant}.{key}"

    def check_local_files(self) -> None:
        """The checks that read the files a config names (the workflow runs them when it is
        built, on the machine that submits the jobs): every local hierarchy source and source
        override must be an existing file, and a local hierarchy file's tree must take every
        run's values (``check_tree``). Relative paths start at the working directory, as the
        download jobs read them."""
        for dataset in self.datasets:
            section = self.dataset(dataset)
            spec = section.get("hierarchy")
            for key, source in (section.get("sources") or {}).items():
                _local_file(source, f"datasets.{dataset}.sources.{key}")
            if spec is None:
                continue
            path = _local_file(spec["source"], f"datasets.{dataset}.hierarchy.source")
            if path is None or (spec.get("sha256") and sha256_of(path) != spec["sha256"]):
                continue  # a URL, or a file that the download job will refuse (its checksum)
            try:
                hierarchy = read_hierarchy(path, spec["format"], spec.get("class_order") or "sorted")
            except HierarchyError as error:
                raise ConfigError(f"datasets.{dataset}.hierarchy.source: {error}") from None
            self.check_tree(dataset, TreeShape.of(hierarchy, f"its hierarchy file {path}"))

    def _check_dataset(self, dataset: str, section: Mapping[str, Any]) -> None:
        kind = KINDS[section["kind"]]
        foreign = sorted(set(section) & (KIND_OPTIONS - set(kind.options)))
        if foreign:
            raise ConfigError(
                f"datasets.{dataset}.{foreign[0]}: not an option of kind {kind.name!r} (its options: {sorted(kind.options) or 'none'})"
            )
        for key, option in kind.options.items():  # each kind-specific value, through the kind's option
            if key in section:
                option.check(section[key], f"datasets.{dataset}.{key}")
            elif option.required:
                raise ConfigError(f"datasets.{dataset}.{key}: required for kind {kind.name!r}")
        if not kind.plants_hierarchy and "hierarchy" not in section:
            raise ConfigError(f"datasets.{dataset}.hierarchy: required for kind {kind.name!r} (source, sha256, format)")
        overrides = set(section.get("sources") or {}) - set(kind.sources)
        if overrides:
            raise ConfigError(
                f"datasets.{dataset}.sources.{sorted(overrides)[0]}: kind {kind.name!r} has no such source (its sources: {sorted(kind.sources) or 'none'})"
            )

    def _check_steps(self, run: RunSpec, where: str) -> None:
        """Training drops the last partial batch: a training split smaller than the batch would
        train zero steps."""
        sizes = self.split_sizes(run.dataset)
        if sizes is not None and sizes.get("train", 0) < run.training.batch_size:
            raise ConfigError(
                f"{where}: training.batch_size = {run.training.batch_size} exceeds the {sizes.get('train', 0)} training "
                f"images of {run.dataset!r}, so training would run zero steps; lower the batch size (datasets.{run.dataset}."
                f"training.batch_size) or add training images"
            )

    def _check_data_path(self, run: RunSpec, where: str) -> None:
        """Device augmentation pads a batch's crops to the largest one: it needs crops of a bounded size."""
        section = self.dataset(run.dataset)
        if run.training.augment_on == "device" and not self.kind(run.dataset).bounded_crops(section):
            raise ConfigError(
                f"{where}: training.augment_on: device needs images of one size, and the images of {run.dataset!r} "
                f"keep their own (a batch's crops are padded to the largest): set datasets.{run.dataset}.resize, "
                "or augment_on: workers"
            )

    @staticmethod
    def _check_training(section: Mapping | None, where: str) -> None:
        """Each training section alone, so that a wrong key is named where it was written."""
        if section:
            typed(Training, section, where)

    def _check_variant(self, where: str, spec: Mapping[str, Any]) -> None:
        method_name = spec.get("method")
        if method_name not in METHODS:
            raise ConfigError(f"{where}.method: unknown method {method_name!r}; known: {sorted(METHODS)}")
        method = METHODS[method_name]
        if method.auxiliary_only:
            raise ConfigError(f"{where}.method: {method_name!r} is trained only as a post-hoc rule's auxiliary model")
        if spec.get("head") not in method.heads:
            raise ConfigError(f"{where}.head: method {method_name!r} supports heads {list(method.heads)}, got {spec.get('head')!r}")
        method.resolve_params({k: v for k, v in spec.items() if k not in VARIANT_KEYS}, where)
        self._check_training(spec.get("training"), f"{where}.training")
        for chain in spec.get("posthoc") or ():
            unknown = [rule for rule in chain.split("+") if rule not in POSTHOC_RULES]
            if unknown:
                raise ConfigError(f"{where}.posthoc: unknown rule {unknown[0]!r} in {chain!r}; known: {sorted(POSTHOC_RULES)}")


def _local_file(source: str, where: str) -> Path | None:
    """The file a download source names (a local path or a file:// URL; None for http(s)),
    which must exist."""
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme in ("http", "https"):
        return None
    path = Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme == "file" else Path(source)
    if not path.is_file():
        raise ConfigError(
            f"{where}: {source!r} is not an existing file ({path.absolute()}); expected an http(s) URL, a file:// URL "
            "or the path of an existing file (a relative path starts at the working directory)"
        )
    return path


def auxiliary_variant(auxiliary: AuxiliaryModel, run: RunSpec) -> str:
    """The auxiliary model's run name: one per head (it takes the amended variant's head)."""
    return f"{auxiliary.name}_{run.head}"


def _auxiliary_run(auxiliary: AuxiliaryModel, run: RunSpec) -> RunSpec:
    method = get_method(auxiliary.method)
    return RunSpec(
        dataset=run.dataset, dataset_kind=run.dataset_kind, variant=auxiliary_variant(auxiliary, run), seed=run.seed,
        method=method.name, head=run.head, params=method.resolve_params({}, auxiliary.name), posthoc=(),
        frame=run.frame, training=run.training, evaluation=run.evaluation,
    )


def schema_errors(config: Mapping[str, Any], schema_file: str | Path) -> list[str]:
    """Every place where ``config`` breaks the workflow's JSON schema, one short line each
    (``datasets.mine: Additional properties are not allowed ('foo' was unexpected)``)."""
    import jsonschema

    schema = yaml.safe_load(Path(schema_file).read_text())
    errors = _strict_validator(jsonschema)(schema).iter_errors(config)
    return [f"{'.'.join(map(str, error.absolute_path)) or '(top level)'}: {_message(error)}"
            for error in sorted(errors, key=lambda error: list(map(str, error.absolute_path)))]


def _strict_validator(jsonschema):
    """Draft 2020-12 with the types the code relies on: an ``integer`` is an int (JSON Schema
    admits 2.0, which the code would use as a float: ``range(2.0)``, a run named ``seed2.0``),
    a ``number`` is finite (``.inf`` and ``.nan`` pass every ``minimum`` and ``maximum``)."""
    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine_many({
        "integer": lambda _, x: isinstance(x, int) and not isinstance(x, bool),
        "number": lambda _, x: isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x),
    })
    return jsonschema.validators.extend(base, type_checker=checker)


def _message(error) -> str:
    """The schema's message, in the words of ``typed`` for the numbers it refuses."""
    value = error.instance
    if error.validator != "type" or isinstance(value, bool) or not isinstance(value, float):
        return error.message
    types = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
    if not math.isfinite(value) and {"number", "integer"} & set(types):
        return f"expected a finite number, got {value}"
    if "integer" in types and "number" not in types:
        return f"expected an integer{' or null' if 'null' in types else ''}, got {value!r}"
    return error.message
