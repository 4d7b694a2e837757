"""Declared options (haframe.options): every option of every registry (the training recipe, the
methods, the post-hoc rules, the dataset kinds) has a meaning, takes its own default and its
search space's samples; the errors name the field; the JSON schema keeps the config's shape and
agrees with the registries; the backbone and recipe records agree with the options that name them."""

import dataclasses
import random
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import REPO

from haframe.data.kinds import KINDS
from haframe.data.recipes import IMAGE_RECIPES, RECIPES
from haframe.methods import METHODS, POSTHOC_RULES
from haframe.models.records import BACKBONES, WEIGHTS
from haframe.options import (
    Choice,
    ConfigError,
    IntUniform,
    LogUniform,
    Option,
    Uniform,
    option_rows,
    option_table,
    options_of,
)
from haframe.runs import Evaluation, LrScale, Training, typed

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
DATASET_SCHEMA = SCHEMA["properties"]["datasets"]["additionalProperties"]
# a dataset section's keys that every kind reads; the rest are the kinds' own options
COMMON_DATASET_KEYS = {
    "kind",
    "sources",
    "classes",
    "height",
    "hierarchy",
    "frame",
    "seeds",
    "training",
    "variants",
    "overrides",
}


def nested(options, prefix):
    """(name, option) of ``options`` and of the sections within them, as ``prefix.name``."""
    for name, option in options.items():
        yield f"{prefix}.{name}", option
        inner = options_of(option.type) if dataclasses.is_dataclass(option.type) else option.fields
        if inner:
            yield from nested(inner, f"{prefix}.{name}")


def registered():
    yield from nested(options_of(Training), "training")
    yield from nested(options_of(Evaluation), "evaluation")
    for name, method in METHODS.items():
        yield from nested(method.params, f"method {name}")
    for name, rule in POSTHOC_RULES.items():
        yield from nested(rule.params, f"rule {name}")
    for name, kind in KINDS.items():
        yield from nested(kind.options, f"kind {name}")


OPTIONS = dict(registered())
SEARCHED = {name: option for name, option in OPTIONS.items() if option.search is not None}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_every_option_means_something_and_takes_its_own_default(name):
    option = OPTIONS[name]
    assert option.meaning and "\n" not in option.meaning, name
    if not option.required:
        option.check(option.default, name)


@pytest.mark.parametrize("name", sorted(SEARCHED))
def test_every_search_space_samples_values_its_option_takes(name):
    option = OPTIONS[name]
    for seed in range(20):
        for rng in (random.Random(seed), np.random.default_rng(seed)):
            option.check(option.search.sample(rng), name)
    assert option.search.sample(random.Random(3)) == option.search.sample(random.Random(3))  # deterministic


def test_the_hyper_parameters_and_the_recipe_knobs_are_searched():
    assert {
        "training.lr",
        "training.weight_decay",
        "method haframe.alpha",
        "method soft_labels.beta",
        "method hxe.decay",
        "method hiercos.alpha",
        "method bilt.beta",
    } <= set(SEARCHED)


@pytest.mark.parametrize("cls", [Training, LrScale, Evaluation])
def test_every_field_of_the_recipe_records_is_declared(cls):
    assert list(options_of(cls)) == [f.name for f in dataclasses.fields(cls)]
    assert cls() == typed(cls, {}, "x")  # the options' defaults are the records'
    for f in dataclasses.fields(cls):
        assert options_of(cls)[f.name].default == f.default


def test_search_spaces_sample_inside_their_bounds_from_either_generator():
    for rng in (random.Random(0), np.random.default_rng(0)):
        draws = [LogUniform(1e-5, 1e-2).sample(rng) for _ in range(200)]
        assert all(1e-5 <= x <= 1e-2 for x in draws) and min(draws) < 1e-4 and max(draws) > 1e-3  # every decade
        assert set(IntUniform(1, 3).sample(rng) for _ in range(100)) == {1, 2, 3}
        assert set(Choice(("a", "b")).sample(rng) for _ in range(100)) == {"a", "b"}
        assert all(0.5 <= Uniform(0.5, 2.0).sample(rng) <= 2.0 for _ in range(100))
    assert LogUniform(1e-3, 0.5).describe() == "log-uniform 0.001..0.5"
    assert Choice((4.0, 10.0)).describe() == "one of 4, 10"
    with pytest.raises(ValueError):
        LogUniform(0.0, 1.0)


@pytest.mark.parametrize(
    "option, where, value, message",
    [
        (
            Option(float, 0.4, "m", low=0, high=1, note="0: fixed frame, plain CE"),
            "variants.haframe.alpha",
            2,
            "variants.haframe.alpha: expected a number in [0, 1] (0: fixed frame, plain CE), got 2",
        ),
        (Option(float, 0.1, "m", low=0, low_open=True), "x.lr", 0, "x.lr: expected a number > 0, got 0"),
        (Option(float, 0.1, "m", low=0), "x.lr", float("inf"), "x.lr: expected a finite number, got inf"),
        (Option(float, 0.1, "m", low=0), "x.lr", True, "x.lr: expected a finite number, got True"),
        (Option(int, 1, "m", low=1), "x.n", 2.0, "x.n: expected an integer, got 2.0"),
        (Option(int, None, "m", low=1, nullable=True), "x.n", 0, "x.n: expected an integer >= 1 or null, got 0"),
        (Option(str, "a", "m", choices=("a", "b")), "x.s", "c", "x.s: expected one of a, b, got 'c'"),
        (Option(str, None, "m", choices=("a", "b"), nullable=True), "x.s", 1, "x.s: expected a string or null, got 1"),
        (Option(bool, False, "m"), "x.b", "yes", "x.b: expected true or false, got 'yes'"),
        (
            Option(list, None, "m", items=Option(int, low=1), nullable=True),
            "x.l",
            [1, 0],
            "x.l[1]: expected an integer >= 1, got 0",
        ),
        (
            Option(tuple, (2,), "m", items=Option(int, low=2), min_items=1),
            "x.l",
            [],
            "x.l: expected a non-empty list of integers >= 2, got []",
        ),
        (
            Option(dict, {}, "m", fields={"train": Option(str, None, "m", nullable=True)}),
            "x.d",
            {"tarin": "x"},
            "x.d.tarin: unknown key; known: ['train']",
        ),
        (
            Option(dict, {}, "m", values=Option(str, "", "m")),
            "x.d",
            {"archive": 3},
            "x.d.archive: expected a string, got 3",
        ),
        (Option(LrScale, LrScale(), "m"), "x.lr_scale", 0.1, "x.lr_scale: expected a mapping, got 0.1"),
    ],
)
def test_a_refused_value_names_its_field_and_what_was_expected(option, where, value, message):
    with pytest.raises(ConfigError) as error:
        option.check(value, where)
    assert str(error.value) == message


def test_a_checked_value_comes_back_typed():
    assert Option(float, 0.0, "m").check(1, "x") == 1.0 and isinstance(Option(float, 0.0, "m").check(1, "x"), float)
    assert Option(tuple, (), "m", items=Option(int)).check([3, 3], "x") == (3, 3)
    assert Option(LrScale, LrScale(), "m").check({"backbone": 1}, "x") == LrScale(backbone=1.0)
    assert typed(Training, {"lr": 1, "lr_scale": {"head": 0}}, "t").lr_scale.head == 0.0


def test_method_parameters_keep_their_given_values_and_messages():
    haframe = METHODS["haframe"]
    assert haframe.resolve_params({"alpha": 0}, "v") == {"alpha": 0}  # as given: the run's identity reads it
    with pytest.raises(
        ConfigError, match=r"^v.alpha: expected a number in \[0, 1\] \(0: fixed frame, plain CE\), got 1.5$"
    ):
        haframe.resolve_params({"alpha": 1.5}, "v")
    with pytest.raises(ConfigError, match=r"^v.margin_levels\[0\]: expected an integer >= 1, got 0$"):
        METHODS["hafeature"].resolve_params({"margin_levels": [0]}, "v")


def test_the_option_table_lists_every_option_with_its_meaning():
    table = option_table(options_of(Training))
    rows = option_rows(options_of(Training))
    assert [row[0] for row in rows] == [
        *[f.name for f in dataclasses.fields(Training)][:4],
        *[f"lr_scale.{f.name}" for f in dataclasses.fields(LrScale)],
        *[f.name for f in dataclasses.fields(Training)][4:],
    ]
    assert (
        "| lr | number | 0.1 | > 0 | lr at epoch 0; lr(e) = lr/2 (1 + cos(pi e / E)) | log-uniform 0.001..0.5 |"
        in table
    )
    assert "| backbone | string | resnet50 | tiny_cnn, small_cnn, wrn28_8, resnet50 |" in table
    synthetic = option_table(KINDS["synthetic"].options)
    assert "| synthetic.branching | list of integers | [3, 3, 3] | 1..12 items, each in [2, 1000] |" in synthetic


# --------------------------------------------------------------------------- the schema and the registries


def test_the_schema_lists_the_recipe_records_fields_and_leaves_their_values_to_the_options():
    training = SCHEMA["definitions"]["training"]
    assert training["additionalProperties"] is False
    assert set(training["properties"]) == {f.name for f in dataclasses.fields(Training)}
    lr_scale = training["properties"]["lr_scale"]
    assert set(lr_scale["properties"]) == {f.name for f in dataclasses.fields(LrScale)}
    evaluation = SCHEMA["properties"]["evaluation"]
    assert (
        set(evaluation["properties"]) == set(evaluation["required"]) == {f.name for f in dataclasses.fields(Evaluation)}
    )
    for name, spec in [
        *training["properties"].items(),
        *lr_scale["properties"].items(),
        *evaluation["properties"].items(),
    ]:
        assert name == "lr_scale" or spec == {}, f"training.{name}: its option checks it, not the schema"


def test_the_schema_allows_every_kind_option_and_no_other_key():
    declared = {name for kind in KINDS.values() for name in kind.options}
    allowed = set(DATASET_SCHEMA["properties"])
    assert DATASET_SCHEMA["additionalProperties"] is False
    assert declared <= allowed
    assert allowed - COMMON_DATASET_KEYS == declared - COMMON_DATASET_KEYS
    for name in declared - COMMON_DATASET_KEYS:
        assert DATASET_SCHEMA["properties"][name] == {}, (
            f"datasets.<d>.{name}: its kind's option checks it, not the schema"
        )


def test_the_enums_left_in_the_schema_are_the_registries():
    assert sorted(DATASET_SCHEMA["properties"]["kind"]["enum"]) == sorted(KINDS)
    heads = SCHEMA["definitions"]["variant"]["properties"]["head"]["enum"]
    assert sorted(heads) == sorted({head for method in METHODS.values() for head in method.heads})

    def enums(node, path=""):
        if isinstance(node, dict):
            if "enum" in node:
                yield path
            for key, value in node.items():
                yield from enums(value, f"{path}.{key}")
        elif isinstance(node, list):
            for value in node:
                yield from enums(value, path)

    # beside those two, only the common sections' own enums (hierarchy format, class order, frame
    # solver, the scores a run keeps, the pretrained classifiers' device)
    assert sorted(enums(SCHEMA)) == sorted(
        [
            ".properties.scores",
            ".properties.pretrained.properties.device",
            ".definitions.variant.properties.head",
            ".properties.datasets.additionalProperties.properties.kind",
            ".properties.datasets.additionalProperties.properties.hierarchy.properties.format",
            ".properties.datasets.additionalProperties.properties.hierarchy.properties.class_order",
            ".properties.datasets.additionalProperties.properties.frame.properties.solver",
        ]
    )


# --------------------------------------------------------------------------- records


def test_the_backbone_and_weights_options_are_the_records():
    training = options_of(Training)
    assert training["backbone"].choices == tuple(BACKBONES) and training["backbone"].default in BACKBONES
    assert training["pretrained"].choices == tuple(WEIGHTS) and training["pretrained"].default in WEIGHTS
    for name, record in BACKBONES.items():
        assert record.name == name and set(record.weights) <= set(WEIGHTS)
        assert record.recipe is None or record.recipe in RECIPES
    assert training["pretrained"].default in BACKBONES[training["backbone"].default].weights


def test_the_recipe_records_name_their_operations_and_the_folder_kind_offers_the_image_recipes():
    assert KINDS["folder"].options["transform"].choices == IMAGE_RECIPES
    for name, recipe in RECIPES.items():
        assert recipe.name == name and recipe.layout in ("arrays", "images")
        assert recipe.layout == "arrays" or (recipe.train and recipe.eval)
        assert not recipe.resize_first or recipe.train[0].startswith("Resize(")


def test_the_declarations_import_no_torch():
    modules = (
        "haframe.options",
        "haframe.runs",
        "haframe.data.kinds",
        "haframe.models.records",
        "haframe.data.recipes",
        "haframe.cost",
    )
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONPATH": str(REPO / "src")}
    )
    assert result.stdout.strip() == "False"
