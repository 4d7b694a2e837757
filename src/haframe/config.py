"""Resolve and validate the study configuration into one flat config per training run.

Precedence (later wins): ``training`` < ``datasets.<d>.training`` < the variant's own
``training`` < ``datasets.<d>.variants.<v>``. The resolved dict is saved with every run and
hashed into the run's identity.
"""

from __future__ import annotations

import copy
import hashlib
import json

from .methods import METHODS

VARIANT_KEYS = {"method", "head", "crm", "training", "seeds"}
RUN_ONLY_KEYS = ("threads", "workers")  # resources that do not change the numbers: not in the identity


class ConfigError(ValueError):
    """The configuration cannot describe a valid study; the message names the field."""


def merge(base: dict, override: dict | None) -> dict:
    """Recursive dict merge; ``override`` wins."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def dataset_variants(config: dict, dataset: str) -> list[str]:
    """Variants trained on ``dataset``: the keys of its ``variants`` map, else all variants."""
    chosen = config["datasets"][dataset].get("variants")
    return list(chosen) if chosen else list(config["variants"])


def run_seeds(config: dict, dataset: str, variant: str) -> list[int]:
    """Seeds of one variant on one dataset: the variant's, else the dataset's, else global."""
    spec = variant_spec(config, dataset, variant)
    return list(spec.get("seeds") or config["datasets"][dataset].get("seeds") or config["seeds"])


def variant_spec(config: dict, dataset: str, variant: str) -> dict:
    """The variant's values with the dataset's overrides applied."""
    where = f"datasets.{dataset}.variants.{variant}"
    if variant not in config["variants"]:
        raise ConfigError(f"{where}: unknown variant {variant!r}; defined: {sorted(config['variants'])}")
    override = (config["datasets"][dataset].get("variants") or {}).get(variant) or {}
    return merge(config["variants"][variant], override)


def resolve_run(config: dict, dataset: str, variant: str, seed: int) -> dict:
    """The complete, validated configuration of one training run."""
    spec = variant_spec(config, dataset, variant)
    ds = config["datasets"][dataset]
    method = METHODS[spec["method"]]
    params = {name: spec.get(name, p.default) for name, p in method.params.items()}
    training = merge(merge(config["training"], ds.get("training")), spec.get("training"))
    return {
        "dataset": dataset,
        "kind": ds["kind"],
        "variant": variant,
        "seed": int(seed),
        "method": spec["method"],
        "head": spec["head"],
        "crm": bool(spec.get("crm", False)),
        "params": params,
        "frame": dict(ds["frame"]),
        "training": training,
        "evaluation": dict(config["evaluation"]),
    }


def identity_hash(run: dict) -> str:
    """Short hash of the resolved values that determine a run's numbers."""
    training = {k: v for k, v in run["training"].items() if k not in RUN_ONLY_KEYS}
    payload = json.dumps({**run, "training": training}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def validate_study(config: dict) -> None:
    """Semantic checks the JSON schema cannot express; raise ConfigError naming the field."""
    if not config.get("datasets"):
        raise ConfigError("datasets: at least one dataset is required")
    for name, spec in config["variants"].items():
        _check_variant(f"variants.{name}", spec)
    for dataset, ds in config["datasets"].items():
        if ds["kind"] == "folder" and "folder" not in ds:
            raise ConfigError(f"datasets.{dataset}.folder: required for kind 'folder' (<folder>/{{train,val,test}}/<class>/<image>)")
        if ds["kind"] != "synthetic" and "hierarchy" not in ds:
            raise ConfigError(f"datasets.{dataset}.hierarchy: required for kind {ds['kind']!r} (source, sha256, format)")
        for variant in dataset_variants(config, dataset):
            if not run_seeds(config, dataset, variant):
                raise ConfigError(f"datasets.{dataset} ({variant}): at least one seed is required")
            spec = variant_spec(config, dataset, variant)
            _check_variant(f"datasets.{dataset}.variants.{variant}", spec)
            training = resolve_run(config, dataset, variant, 0)["training"]
            if training["epochs"] < 1:
                raise ConfigError(f"datasets.{dataset} ({variant}): training.epochs must be >= 1")


def _check_variant(where: str, spec: dict) -> None:
    method_name = spec.get("method")
    if method_name not in METHODS:
        raise ConfigError(f"{where}.method: unknown method {method_name!r}; known: {sorted(METHODS)}")
    method = METHODS[method_name]
    if spec.get("head") not in method.heads:
        raise ConfigError(f"{where}.head: method {method_name!r} supports heads {list(method.heads)}, got {spec.get('head')!r}")
    for key, value in spec.items():
        if key in VARIANT_KEYS:
            continue
        if key not in method.params:
            raise ConfigError(f"{where}.{key}: not a parameter of method {method_name!r} (it has {sorted(method.params) or 'none'})")
        param = method.params[key]
        if not param.check(value):
            raise ConfigError(f"{where}.{key}: expected {param.expected}, got {value!r}")
