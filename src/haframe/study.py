"""The study configuration, checked and resolved into one ``RunSpec`` per (dataset, variant, seed),
and compiled into the table of every job the workflow runs (``Study.compile``, ``haframe.jobs``).

Selection: every variant of the top-level ``variants`` runs on every dataset, unless the variant
lists its ``datasets`` or a dataset lists its ``variants``; a variant that runs nowhere is refused.
Precedence for a run's values (later wins), implemented once in ``Study.layers``: ``training`` <
``datasets.<d>.training`` < the variant < ``datasets.<d>.overrides.<v>``. The workflow builds one
``Study`` from its config after the JSON schema has checked the shapes; ``Study`` checks what a
schema cannot (method hyper-parameters, types the code relies on, what each dataset kind needs)
and raises ``ConfigError`` naming the field, before any job runs. ``python -m haframe.study jobs
--configfile F`` prints the compiled table, one JSON object per job.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .cost import THROUGHPUT_FILE, read_throughput
from .data.kinds import KINDS, DatasetKind
from .data.prepared import DataError
from .data.recipes import RECIPES
from .fileio import sha256_of
from .hierarchy import HierarchyError, TreeShape
from .jobs import JobTable, Layout, compile_jobs, local_path
from .methods import METHODS, POSTHOC_RULES, get_method, posthoc_chain
from .methods.base import AuxiliaryModel
from .options import options_of
from .parsers import read_hierarchy
from .pretrained import PretrainedSection, read_pretrained
from .protocol import Protocol, derived_seed, draws, read_protocol, trial_of
from .run_status import failures
from .runs import ConfigError, Control, Evaluation, FrameSpec, RunSpec, Training, Trial, typed
from .tracking import default_tracking_uri

REPOSITORY = Path(__file__).resolve().parents[2]  # a source checkout: workflow/, config/, bench/
SCHEMA_FILE = REPOSITORY / "workflow" / "schemas" / "config.schema.yaml"

# the rest are the method's parameters
VARIANT_KEYS = {"method", "head", "posthoc", "training", "seeds", "datasets", "fixed", "control"}
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
        self.protocol: Protocol = read_protocol(config.get("protocol"))
        self.pretrained: PretrainedSection | None = read_pretrained(config)
        self._validate()

    @property
    def name(self) -> str:
        """The study's name: its results folder and MLflow experiment (the workflow defaults it
        to the config file's name)."""
        return self.config.get("study") or "study"

    @property
    def datasets(self) -> list[str]:
        return list(self.config["datasets"])

    @property
    def layout(self) -> Layout:
        """Where the study's files go: results/<study>/, downloads under ``data_root``."""
        return Layout(results=f"results/{self.name}", data_root=self.config["data_root"], tuned=self.protocol.tuned)

    def compile(self, failed: Mapping[str, dict] | None = None) -> JobTable:
        """Every job of the study with its resolved parameters and files. ``failed``: {run
        directory: failure record} (default: the ``failed.json`` records found now)."""
        layout = self.layout
        failed = self.recorded_failures() if failed is None else failed
        settings = {
            "retry_seconds": self.config["downloads"]["retry_seconds"],
            "timeout": self.config["downloads"]["timeout_seconds"],
            "tracking_uri": self.config["mlflow"]["tracking_uri"] or default_tracking_uri("results"),
            "throughput": read_throughput(THROUGHPUT_FILE) if THROUGHPUT_FILE.is_file() else [],
            **{key: _repository_file(self.config["report"][key]) for key in ("reference_results", "reference_notes")},
        }
        return compile_jobs(self, layout, failed, settings)

    def recorded_failures(self) -> dict[str, dict]:
        """{run directory: failure record} of the runs whose training or evaluation failed before."""
        layout = self.layout
        return failures(
            layout.run_dir(d, run.variant, run.seed) for d in self.datasets for run in self.training_runs(d)
        )

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

    def num_classes(self, dataset: str) -> int | None:
        """The dataset's class count where known before any job: its ``classes``, its planted
        tree's, or its local hierarchy file's (once ``check_local_files`` has read it)."""
        tree = self._config_tree(dataset)
        if tree is not None and tree.classes is not None:
            return tree.classes
        return self._cache.get(("local_classes", dataset))

    def prepared_disk_mb(self, dataset: str) -> float:
        """Room the prepared dataset needs: its kind's, plus its pixel store (``store: pixels``:
        size x size x 3 bytes per image) where sizes are known."""
        section, sizes = self.dataset(dataset), self.split_sizes(dataset)
        kind = self.kind(dataset)
        key = ("files_mb", dataset)  # read once, where the paths are (the summary prints at exit)
        if key not in self._cache:
            self._cache[key] = kind.files_mb(section) if kind.files_mb is not None else None
        files_mb = self._cache[key]
        prepared = kind.disk_mb if files_mb is None else files_mb
        if section.get("store") != "pixels" or sizes is None:
            return prepared
        size = section.get("input_size", 224)
        return prepared + sum(sizes.values()) * size * size * 3 / 2**20

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
        """Variants trained on ``dataset``, in config order: the dataset's ``variants`` list, else
        every variant whose own ``datasets`` list (when given) names it; none on a dataset of an
        evaluation-only kind (no training split)."""
        if "train" not in self.kind(dataset).splits:
            return []
        chosen = self.dataset(dataset).get("variants")
        if chosen is not None:
            return [variant for variant in self.config["variants"] if variant in chosen]
        return [
            name
            for name, spec in self.config["variants"].items()
            if spec.get("datasets") is None or dataset in spec["datasets"]
        ]

    def seeds(self, dataset: str, variant: str) -> list[int]:
        """Seeds of one variant on one dataset: under the tuned protocol its trials' (every
        variant's the same); else the override's, the variant's, the dataset's, else global."""
        if self.protocol.tuned:
            return self.protocol.seeds()
        for _, section in reversed(self.layers(dataset, variant)):
            if section.get("seeds"):
                return list(section["seeds"])
        return list(self.dataset(dataset).get("seeds") or self.config.get("seeds") or [])

    def layers(self, dataset: str, variant: str) -> list[tuple[str, Mapping[str, Any]]]:
        """(where, section) that give a run of ``variant`` on ``dataset`` its values, lowest
        precedence first: the variant, then the dataset's override of it. Training values merge
        ``training`` < ``datasets.<d>.training`` < these sections' ``training``."""
        override = (self.dataset(dataset).get("overrides") or {}).get(variant) or {}
        return [
            (f"variants.{variant}", self.config["variants"][variant]),
            (f"datasets.{dataset}.overrides.{variant}", override),
        ]

    def training_layers(self, dataset: str, variant: str) -> list[tuple[str, Mapping[str, Any]]]:
        """(where, training section) of a run, lowest precedence first."""
        return [
            ("training", self.config["training"]),
            (f"datasets.{dataset}.training", self.dataset(dataset).get("training") or {}),
            *((f"{where}.training", section.get("training") or {}) for where, section in self.layers(dataset, variant)),
        ]

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

    def kept_scores(self, trial: bool) -> tuple[str, ...]:
        """The splits whose saved scores a run keeps (``scores``; a trial's: validation at most)."""
        kept = {"all": ("val", "test"), "validation": ("val",), "none": ()}[self.config.get("scores", "all")]
        return tuple(split for split in kept if split == "val") if trial else kept

    def training_runs(self, dataset: str) -> list[RunSpec]:
        """Every run to train on a dataset: the variants' and the auxiliary models' they need."""
        return self.runs(dataset) + list(self._auxiliary_runs(dataset).values())

    def auxiliary_runs_of(self, run: RunSpec) -> dict[str, RunSpec]:
        """The auxiliary models the run's post-hoc chains need, by their name."""
        return {
            rule.auxiliary.name: self.run(run.dataset, auxiliary_variant(rule.auxiliary, run), run.seed)
            for chain in run.posthoc
            for rule in posthoc_chain(chain)
            if rule.auxiliary is not None
        }

    def auxiliary_variants(self) -> list[str]:
        return sorted({variant for dataset in self.datasets for variant, _ in self._auxiliary_runs(dataset)})

    # ------------------------------------------------------------------ resolution

    def _variant_spec(self, dataset: str, variant: str) -> Mapping[str, Any]:
        """The variant's values with the dataset's override applied (cached: read only)."""
        key = ("variant spec", dataset, variant)
        if key not in self._cache:
            spec: dict = {}
            for _, section in self.layers(dataset, variant):
                spec = merge(spec, section)
            self._cache[key] = spec
        return self._cache[key]

    def _resolve(self, dataset: str, variant: str, seed: int) -> RunSpec:
        """The run at ``seed``: the variant's values on the dataset (resolved once), under the
        tuned protocol with its trial's draws, and a control's permutation seed."""
        base, spec = self._variant_run(dataset, variant), self._variant_spec(dataset, variant)
        changes: dict[str, Any] = {"seed": seed}
        if self.protocol.tuned:
            repetition, index = trial_of(seed)
            method = get_method(base.method)
            drawn = draws(self.protocol, dataset, variant, index, method.params, set(spec.get("fixed") or ()))
            recipe = {k.removeprefix("training."): v for k, v in drawn.items() if k.startswith("training.")}
            params = {**base.params, **{k: v for k, v in drawn.items() if not k.startswith("training.")}}
            changes.update(
                params=method.resolve_params(params, f"datasets.{dataset}.overrides.{variant}"),
                training=dataclasses.replace(base.training, **recipe),  # drawn inside the knobs' declared spaces
                trial=Trial(index, repetition, drawn),
            )
        if spec.get("control"):  # one permutation per seed (tuned: per repetition), shared by every control
            unit = ("repetition", changes["trial"].repetition) if self.protocol.tuned else ("seed", seed)
            changes["control"] = Control(spec["control"], derived_seed(spec["control"], dataset, *unit))
        return dataclasses.replace(base, **changes)

    def _variant_run(self, dataset: str, variant: str) -> RunSpec:
        """The variant's run on the dataset at its configured values (seed 0), checked; cached."""
        key = ("variant run", dataset, variant)
        if key not in self._cache:
            where = f"datasets.{dataset}.overrides.{variant}"
            spec = self._variant_spec(dataset, variant)
            method = get_method(spec["method"])
            section = self.dataset(dataset)
            training: dict = {}
            for _, layer in self.training_layers(dataset, variant):
                training = merge(training, layer)
            self._cache[key] = RunSpec(
                dataset=dataset,
                dataset_kind=section["kind"],
                variant=variant,
                seed=0,
                method=method.name,
                head=spec["head"],
                params=method.resolve_params({k: v for k, v in spec.items() if k not in VARIANT_KEYS}, where),
                posthoc=tuple(spec.get("posthoc") or ()),
                frame=typed(FrameSpec, section["frame"], f"datasets.{dataset}.frame"),
                training=typed(Training, training, f"{where} (merged) training"),
                evaluation=typed(Evaluation, self.config["evaluation"], "evaluation"),
            )
        return self._cache[key]

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
                                f"auxiliary model {auxiliary.variant!r} but train with different recipes; give them "
                                "the same "
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
        if not self.config["variants"] and self.pretrained is None:
            raise ConfigError("variants: at least one variant is required (or a `pretrained` section)")
        self._check_seeds(self.config.get("seeds"), "seeds")
        for name, spec in self.config["variants"].items():
            self._check_seeds(spec.get("seeds"), f"variants.{name}.seeds")
        for dataset, section in self.config["datasets"].items():
            self._check_seeds(section.get("seeds"), f"datasets.{dataset}.seeds")
            for variant, override in (section.get("overrides") or {}).items():
                self._check_seeds((override or {}).get("seeds"), f"datasets.{dataset}.overrides.{variant}.seeds")
        self._check_selection()
        for name, spec in self.config["variants"].items():
            self._check_variant(f"variants.{name}", spec)
        self._check_training(self.config["training"], "training")
        for dataset, section in self.config["datasets"].items():
            self._check_dataset(dataset, section)
            self._check_training(section.get("training"), f"datasets.{dataset}.training")
            for variant in self.variants(dataset):
                run_where = f"variants.{variant} on datasets.{dataset}"
                if not self.seeds(dataset, variant):
                    raise ConfigError(f"{run_where}: at least one seed is required")
                # the variant's own keys were checked above: what fails here comes from the override
                self._check_variant(f"datasets.{dataset}.overrides.{variant}", self._variant_spec(dataset, variant))
                first = self.run(dataset, variant, self.seeds(dataset, variant)[0])
                self._check_data_path(first, run_where)
                self._check_steps(first, run_where)
            self.check_tree(dataset, self._config_tree(dataset))
            clash = set(self.config["variants"]) & {variant for variant, _ in self._auxiliary_runs(dataset)}
            if clash:
                raise ConfigError(f"variants.{sorted(clash)[0]}: the name is taken by an auxiliary model")

    def _check_selection(self) -> None:
        """Which variant runs where is explicit: the old per-dataset mapping (selection and
        overrides in one) is refused with what to change; a variant that runs on no dataset, a
        name that is not a variant or not a dataset, and an override of a variant that does not
        run on its dataset stop the build naming them."""
        variants, datasets = self.config["variants"], self.config["datasets"]
        for dataset, section in datasets.items():
            chosen = section.get("variants")
            if isinstance(chosen, Mapping):
                raise ConfigError(
                    f"datasets.{dataset}.variants: a mapping (selection and overrides in one) is the old form; move "
                    "each "
                    f"variant's values to datasets.{dataset}.overrides.<variant> and drop this key (every variant "
                    "runs on "
                    f"every dataset), or make it a list of the variants to run here"
                )
            for name in chosen or ():
                if name not in variants:
                    raise ConfigError(
                        f"datasets.{dataset}.variants: {name!r} is not a variant; defined: {list(variants)}"
                    )
        for name, spec in variants.items():
            for dataset in spec.get("datasets") or ():
                if dataset not in datasets:
                    raise ConfigError(
                        f"variants.{name}.datasets: {dataset!r} is not a dataset; defined: {list(datasets)}"
                    )
        for dataset, section in datasets.items():
            for name in section.get("overrides") or {}:
                if name not in self.variants(dataset):
                    raise ConfigError(
                        f"datasets.{dataset}.overrides.{name}: {name!r} does not run on {dataset!r} "
                        f"(it runs: {self.variants(dataset)})"
                    )
        for name in variants:
            if not any(name in self.variants(dataset) for dataset in datasets):
                raise ConfigError(
                    f"variants.{name}: runs on no dataset (its datasets list and the datasets' variants lists leave it "
                    "out everywhere); list it where it should run, or remove it"
                )

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
        origin = " and ".join(
            f"datasets.{dataset}.{key}" for key in ("classes", "height") if section.get(key) is not None
        )
        return TreeShape(section.get("classes"), section.get("height"), origin)

    def check_tree(self, dataset: str, tree: TreeShape | None) -> None:
        """Refuse, naming the field where it is set, a value of a run on ``dataset`` that its tree
        cannot take (``Method.tree_problems``: e.g. margin levels above the tree's height, a
        frame's feature width below K)."""
        if tree is None:
            return
        for variant in self.variants(dataset):
            run = self.run(dataset, variant, self.seeds(dataset, variant)[0])
            for key, problem in get_method(run.method).tree_problems(run, tree).items():
                raise ConfigError(
                    f"{self.where_set(dataset, variant, key)}: {problem} (dataset {dataset!r}: {tree.describe()})"
                )

    def where_set(self, dataset: str, variant: str, key: str) -> str:
        """The config path that gives a run of ``variant`` on ``dataset`` its value of ``key`` (a
        method parameter, or ``training.<field>``): the section of highest precedence that sets it."""
        if key.startswith("training."):
            field = key.removeprefix("training.")
            for where, section in reversed(self.training_layers(dataset, variant)):
                if field in section:
                    return f"{where}.{field}"
            return key
        for where, section in reversed(self.layers(dataset, variant)):
            if key in section:
                return f"{where}.{key}"
        return f"variants.{variant}.{key}"

    def advice(self) -> list[str]:
        """What the study may want to change, though it runs (the dry run prints it): a recipe
        that crops a random part of each image (RandomResizedCrop) on images far below the size
        it was made for."""
        notes = []
        for dataset in self.datasets:
            section = self.dataset(dataset)
            recipe = RECIPES.get(section.get("transform") or "")
            size = section.get("input_size", 224)
            if recipe is None or recipe.layout != "images" or recipe.resize_first or not recipe.sizes:
                continue
            if size < min(recipe.sizes) / 2:
                notes.append(
                    f"datasets.{dataset}.transform: {recipe.name} trains on a random 8-100 % of each image's area "
                    f"(RandomResizedCrop), a recipe for {min(recipe.sizes)}-px photos; at input_size {size} little "
                    "of a class is left in a crop. For small images: transform: fgvc (resized once, a random crop "
                    "with 4 pixels of padding, a flip: CIFAR's recipe for image files)"
                )
        return notes

    def check_local_files(self) -> None:
        """The checks that read the files a config names (the workflow runs them when it is
        built, on the machine that submits the jobs): every local hierarchy source and source
        override must be an existing file, a local hierarchy file must match its sha256 where
        one is given, and its tree must take every run's values (``check_tree``). Relative
        paths start at the working directory, as the download jobs read them."""
        data_root = Path(self.config.get("data_root") or "data")
        if data_root.exists() and not data_root.is_dir():
            raise ConfigError(
                f"data_root: {str(data_root)!r} is a file; expected a folder (or a path to create one at)"
            )
        for dataset in self.datasets:
            section = self.dataset(dataset)
            spec = section.get("hierarchy")
            self.prepared_disk_mb(dataset)  # measures the user's files now, from here
            for key, source in (section.get("sources") or {}).items():
                _local_file(source, f"datasets.{dataset}.sources.{key}")
            if spec is None:
                continue
            path = _local_file(spec["source"], f"datasets.{dataset}.hierarchy.source")
            if path is None:
                continue  # a URL: its download job checks it
            if spec.get("sha256") and (found := sha256_of(path)) != spec["sha256"]:
                raise ConfigError(
                    f"datasets.{dataset}.hierarchy.sha256: {spec['sha256']}, but {path} has sha256 {found} "
                    "(the file was edited, or the pin is of another file)"
                )
            try:
                hierarchy = read_hierarchy(path, spec["format"], spec.get("class_order") or "sorted")
                self._cache[("local_classes", dataset)] = hierarchy.num_classes
            except HierarchyError as error:
                raise ConfigError(f"datasets.{dataset}.hierarchy.source: {error}") from None
            if hierarchy.num_classes < 2:
                raise ConfigError(
                    f"datasets.{dataset}.hierarchy.source: {path} has {hierarchy.num_classes} class; a hierarchy "
                    "needs at least 2 leaves"
                )
            found = {"classes": hierarchy.num_classes, "height": hierarchy.height}
            for key, value in found.items():
                if section.get(key) is not None and section[key] != value:
                    raise ConfigError(
                        f"datasets.{dataset}.{key}: {section[key]}, but its hierarchy file {path} has {key} {value}"
                    )
            self.check_tree(dataset, TreeShape.of(hierarchy, f"its hierarchy file {path}"))
            check_classes = self.kind(dataset).check_classes
            if check_classes is not None and dataset not in self.unavailable_datasets():
                try:
                    check_classes(section, hierarchy.classes, dataset)
                except DataError as error:
                    raise ConfigError(str(error)) from None

    def _check_dataset(self, dataset: str, section: Mapping[str, Any]) -> None:
        kind = KINDS[section["kind"]]
        foreign = sorted(set(section) & (KIND_OPTIONS - set(kind.options)))
        if foreign:
            raise ConfigError(
                f"datasets.{dataset}.{foreign[0]}: not an option of kind {kind.name!r} (its options: "
                f"{sorted(kind.options) or 'none'})"
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
                f"datasets.{dataset}.sources.{sorted(overrides)[0]}: kind {kind.name!r} has no such source (its "
                f"sources: {sorted(kind.sources) or 'none'})"
            )

    def _check_steps(self, run: RunSpec, where: str) -> None:
        """Training drops the last partial batch: a training split smaller than the batch would
        train zero steps."""
        sizes = self.split_sizes(run.dataset)
        if sizes is not None and sizes.get("train", 0) < run.training.batch_size:
            raise ConfigError(
                f"{where}: training.batch_size = {run.training.batch_size} exceeds the {sizes.get('train', 0)} "
                "training "
                f"images of {run.dataset!r}, so training would run zero steps; lower the batch size "
                f"(datasets.{run.dataset}."
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
            raise ConfigError(
                f"{where}.head: method {method_name!r} supports heads {list(method.heads)}, got {spec.get('head')!r}"
            )
        method.resolve_params({k: v for k, v in spec.items() if k not in VARIANT_KEYS}, where)
        self._check_fixed(spec.get("fixed") or (), method, where)
        if spec.get("control") is not None:
            options_of(Control)["name"].check(spec["control"], f"{where}.control")
        self._check_training(spec.get("training"), f"{where}.training")
        for chain in spec.get("posthoc") or ():
            unknown = [rule for rule in chain.split("+") if rule not in POSTHOC_RULES]
            if unknown:
                raise ConfigError(
                    f"{where}.posthoc: unknown rule {unknown[0]!r} in {chain!r}; known: {sorted(POSTHOC_RULES)}"
                )

    def _check_fixed(self, fixed, method, where: str) -> None:
        """What a variant holds ``fixed`` under the tuned protocol must be something it would draw."""
        drawable = [name for name, option in method.params.items() if option.search is not None]
        drawable += [f"training.{knob}" for knob in self.protocol.recipe]
        for i, name in enumerate(fixed):
            if name not in drawable:
                raise ConfigError(
                    f"{where}.fixed[{i}]: {name!r} is not drawn by the tuned protocol for method {method.name!r} "
                    f"(drawn: {drawable})"
                )


def _repository_file(path: str | None) -> str | list:
    """A file the config names ([] when none), relative to the working directory or else to the repository."""
    if not path:
        return []
    return path if Path(path).exists() else str(REPOSITORY / path)


def _local_file(source: str, where: str) -> Path | None:
    """The file a download source names (a local path or a file:// URL; None for http(s)),
    which must exist."""
    path = local_path(source)
    if path is None:
        return None
    if not path.is_file():
        raise ConfigError(
            f"{where}: {source!r} is not an existing file ({path.absolute()}); expected an http(s) URL, a file:// URL "
            "or the path of an existing file (a relative path starts at the working directory)"
        )
    return path


def auxiliary_variant(auxiliary: AuxiliaryModel, run: RunSpec) -> str:
    """The auxiliary model's run name: one per head (it takes the amended variant's head), and
    one per control (a control's auxiliary model learns from its shuffled tree)."""
    return f"{auxiliary.name}_{run.head}" + (f"_{run.control.name}" if run.control else "")


def _auxiliary_run(auxiliary: AuxiliaryModel, run: RunSpec) -> RunSpec:
    method = get_method(auxiliary.method)
    return RunSpec(
        dataset=run.dataset,
        dataset_kind=run.dataset_kind,
        variant=auxiliary_variant(auxiliary, run),
        seed=run.seed,
        method=method.name,
        head=run.head,
        params=method.resolve_params({}, auxiliary.name),
        posthoc=(),
        frame=run.frame,
        training=run.training,
        evaluation=run.evaluation,
        control=run.control,
    )


def schema_errors(config: Mapping[str, Any], schema_file: str | Path) -> list[str]:
    """Every place where ``config`` breaks the workflow's JSON schema, one short line each
    (``datasets.mine: Additional properties are not allowed ('foo' was unexpected)``)."""
    import jsonschema

    schema = yaml.safe_load(Path(schema_file).read_text())
    errors = _strict_validator(jsonschema)(schema).iter_errors(config)
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '(top level)'}: {_message(error)}"
        for error in sorted(errors, key=lambda error: list(map(str, error.absolute_path)))
    ]


def _strict_validator(jsonschema):
    """Draft 2020-12 with the types the code relies on: an ``integer`` is an int (JSON Schema
    admits 2.0, which the code would use as a float: ``range(2.0)``, a run named ``seed2.0``),
    a ``number`` is finite (``.inf`` and ``.nan`` pass every ``minimum`` and ``maximum``)."""
    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine_many(
        {
            "integer": lambda _, x: isinstance(x, int) and not isinstance(x, bool),
            "number": lambda _, x: isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x),
        }
    )
    return jsonschema.validators.extend(base, type_checker=checker)


def _message(error) -> str:
    """The schema's message, in the words of ``typed`` for the numbers it refuses; a string that
    breaks a pattern, with what the pattern's schema says it is for (its ``description``)."""
    value = error.instance
    if error.validator == "pattern" and error.schema.get("description"):
        return f"{value!r} is not allowed: {error.schema['description']}"
    if error.validator != "type" or isinstance(value, bool) or not isinstance(value, float):
        return error.message
    types = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
    if not math.isfinite(value) and {"number", "integer"} & set(types):
        return f"expected a finite number, got {value}"
    if "integer" in types and "number" not in types:
        return f"expected an integer{' or null' if 'null' in types else ''}, got {value!r}"
    return error.message


def load_config(config: Mapping[str, Any], config_file: str | Path | None) -> dict:
    """The config as the workflow reads it: named after its file when unnamed, its shape
    checked against the schema (ConfigError: one short line per problem) and its defaults set."""
    config = copy.deepcopy(dict(config))
    if not config.get("study"):
        config["study"] = Path(config_file).stem if config_file else "study"
    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    problems = schema_errors(config, SCHEMA_FILE)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return _with_defaults(config, schema)


def _with_defaults(value: Any, schema: Mapping[str, Any]) -> Any:
    """``value`` with the schema's ``default``s filled in where a key is missing, recursively."""
    if not isinstance(value, dict):
        return value
    properties = schema.get("properties") or {}
    for key, sub in properties.items():
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
    for key, item in value.items():
        sub = properties.get(key) or (
            schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), dict) else None
        )
        if sub is not None:
            value[key] = _with_defaults(item, sub)
    return value


def main(argv: list[str] | None = None) -> None:
    """``python -m haframe.study jobs --configfile F``: the jobs a complete study runs, one
    JSON object per line (rule, dataset, variant, seed, params, outputs), in the working
    directory's state (failed runs left out, as the workflow leaves them out)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m haframe.study", description=main.__doc__)
    parser.add_argument("command", choices=["jobs"])
    parser.add_argument("--configfile", required=True, help="the study's config (e.g. config/config.yaml)")
    args = parser.parse_args(argv)
    try:
        config = load_config(yaml.safe_load(Path(args.configfile).read_text()), args.configfile)
        table = Study(config).compile()
    except ConfigError as error:
        raise SystemExit(f"{args.configfile}: {error}") from None
    print(table.json_lines(), end="")


if __name__ == "__main__":
    main()
