"""The params that identify a job's result for Snakemake (haframe.identity): what they hold, that
they do not depend on the config's key order, and that an upgrade keeps the params a finished
job was recorded with while they describe the same result. tests/workflow/test_upgrade.py runs the same
through the Snakemake CLI."""

from collections.abc import Mapping

from conftest import tiny_config

from haframe.data.kinds import KINDS
from haframe.identity import (
    Untracked,
    data_options,
    data_params,
    evaluation_record,
    training_params,
    training_record,
)
from haframe.methods import get_method
from haframe.study import Study

SYNTHETIC = KINDS["synthetic"].options


def reversed_keys(value):
    """``value`` with every mapping's keys in reverse order (a config re-saved another way)."""
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(list(value))}
    return value


def run_of(config: dict, variant: str = "haframe", seed: int = 0):
    return Study(config).run("synthetic", variant, seed)


def test_the_records_do_not_depend_on_the_order_of_the_config_keys():
    config = tiny_config()
    config["variants"]["ce_II"]["posthoc"] = ["crm", "hie"]
    for variant in ("haframe", "ce_II"):
        run, again = run_of(config, variant), run_of(reversed_keys(config), variant)
        assert repr(training_record(run)) == repr(training_record(again))
        assert repr(evaluation_record(run)) == repr(evaluation_record(again))
    section = config["datasets"]["synthetic"]
    assert repr(data_options(section, SYNTHETIC)) == repr(data_options(reversed_keys(section), SYNTHETIC))
    assert list(training_record(run_of(config))["training"]) == sorted(training_record(run_of(config))["training"])


def test_post_hoc_chains_and_resources_stay_out_of_the_training_and_evaluation_records():
    config = tiny_config()
    before = run_of(config, "ce_II")
    config["variants"]["ce_II"]["posthoc"] = ["crm", "hie"]
    config["training"].update(threads=4, workers=2)
    after = run_of(config, "ce_II")
    record = training_record(after)
    assert record == training_record(before)
    assert "posthoc" not in record and not {"threads", "workers"} & set(record["training"])
    # the scores do not depend on the chains: a new chain re-reads them (the assemble job's param)
    assert evaluation_record(after) == evaluation_record(before) == {"batch_size": 256, "drop_last": False}


def test_what_changes_the_weights_changes_the_training_record():
    config = tiny_config()
    base = training_record(run_of(config))
    for change in (
        lambda c: c["training"].update(lr=0.05),
        lambda c: c["variants"]["haframe"].update(alpha=0.5),
        lambda c: c["evaluation"].update(drop_last=True),
        lambda c: c["datasets"]["synthetic"]["frame"].update(gamma=3.0),
    ):
        changed = tiny_config()
        change(changed)
        assert training_record(run_of(changed)) != base


def test_a_key_added_later_is_left_out_while_at_its_default(monkeypatch):
    config = tiny_config()
    assert "augment_on" not in training_record(run_of(config))["training"]
    config["training"]["augment_on"] = "device"
    assert training_record(run_of(config))["training"]["augment_on"] == "device"
    # a method parameter added later: alpha, as if haframe had gained it after runs were recorded
    monkeypatch.setattr(type(get_method("haframe")), "added_later", ("alpha",))
    config = tiny_config()
    del config["variants"]["haframe"]["alpha"]  # its default, 0.4
    assert training_record(run_of(config))["params"] == {}
    config["variants"]["haframe"]["alpha"] = 0.5
    assert training_record(run_of(config))["params"] == {"alpha": 0.5}


def old_train_params(run) -> list[str]:
    """What Snakemake recorded for a train job before haframe.identity: the reprs of the whole
    RunSpec.to_dict() and of the resume folder, sorted (its metadata's ``params``)."""
    return sorted([repr(run.to_dict()), repr("results/tiny/synthetic/runs/haframe/seed0/resume")])


def test_an_upgrade_keeps_the_recorded_run_while_it_trains_the_same_weights():
    config = tiny_config()
    old = run_of(config, "ce_II")
    config["variants"]["ce_II"]["posthoc"] = ["crm", "hie"]  # chains and resources changed since
    config["training"]["threads"] = 3
    run = run_of(config, "ce_II")
    kept = training_params(run, old_train_params(old))
    assert repr(kept) in old_train_params(old)  # exactly the recorded value: Snakemake sees no change
    assert training_params(run, None) == training_params(run, []) == training_record(run)
    assert training_params(run, [repr(training_record(run))]) == training_record(run)
    config["training"]["lr"] = 0.05
    assert training_params(run_of(config, "ce_II"), old_train_params(old)) == training_record(run_of(config, "ce_II"))


def test_an_upgrade_keeps_the_recorded_dataset_section_while_its_data_options_are_the_same():
    section = tiny_config()["datasets"]["synthetic"]
    recorded = sorted([repr("synthetic"), repr(dict(section))])  # before: the whole section, in file order
    assert data_options(section, SYNTHETIC) == {"synthetic": {**section["synthetic"]}}
    moved = reversed_keys(section)
    moved["training"]["lr"] = 0.05  # another stage's key: the data stays
    kept = data_params(moved, SYNTHETIC, recorded)
    assert repr(kept) in recorded
    moved["synthetic"]["noise"] = 1.0
    assert data_params(moved, SYNTHETIC, recorded) == data_options(moved, SYNTHETIC)
    assert data_params(section, SYNTHETIC, None) == data_options(section, SYNTHETIC)


def test_untracked_values_read_as_the_mapping_they_hold():
    values = Untracked({"a": 1, "b": {"c": 2}})
    assert isinstance(values, Mapping) and dict(values) == {"a": 1, "b": {"c": 2}} and values["b"]["c"] == 2
    assert len(values) == 2 and list(values) == ["a", "b"]
