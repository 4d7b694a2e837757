"""The cost of a study before it runs (haframe.cost): images read, GPU-hours from the measured
rates, disk; and the rates table itself."""

import dataclasses
import math

import pytest
import yaml
from conftest import REPO, tiny_config

from haframe.cost import (
    FORWARD_SPEEDUP,
    THROUGHPUT_FILE,
    Throughput,
    dataset_cost,
    gpu_seconds,
    images_of,
    rate_for,
    read_throughput,
    training_runtime,
)
from haframe.models.records import BACKBONES
from haframe.study import Study, load_config

TABLE = read_throughput(REPO / "bench" / "throughput.csv")


def run_of(method="ce", head="II", **training):
    config = tiny_config()
    config["variants"]["v"] = {"method": method, "head": head}
    run = Study(config).run("synthetic", "v", 0)
    return dataclasses.replace(run, training=dataclasses.replace(run.training, **training))


def rate(method, head="II", images_per_second=50.0, compile="none"):
    return Throughput(
        "gpu", "Test GPU", "2.0", "2026-12-01", "tiny_cnn", method, head, "fp32", False, compile, 64, images_per_second
    )


def test_the_backbone_records_are_the_models():
    from haframe.models.backbones import build_backbone

    for name, record in BACKBONES.items():
        model = build_backbone(name)
        assert sum(p.numel() for p in model.parameters()) == record.parameters, name
        assert model.out_channels == record.feature_width, name


def test_gpu_hours_count_training_steps_and_forward_passes():
    run = run_of(epochs=2, nc_every=1)
    sizes = {"train": 100, "val": 10, "test": 20}
    cost = dataset_cost("synthetic", [(run, ("val", "test"))], sizes, 9, data_mb=10, table=[rate("ce")])
    # epochs x train; val per epoch, 2 collapse passes, the evaluation's scores of val and test
    trained, forward = 2 * 100, 2 * 10 + 2 * 100 + 10 + 20
    assert cost.images_read == trained + forward
    assert cost.gpu_hours == pytest.approx((trained / 50 + forward / (FORWARD_SPEEDUP * 50)) / 3600)
    assert cost.gpu_name == "Test GPU" and cost.unmeasured == () and not cost.eager_for_compiled
    parameters, width = BACKBONES["tiny_cnn"].parameters, BACKBONES["tiny_cnn"].feature_width
    scores = (10 + 20) * (4 * 9 + 8)  # float32 per class and an int64 label, per image kept
    assert cost.scores_gb == pytest.approx(scores / 2**30)
    assert cost.disk_gb == pytest.approx((10 * 2**20 + 16 * (parameters + 9 * (width + 9)) + scores) / 2**30)
    validation_only = dataset_cost("synthetic", [(run, ("val",))], sizes, 9, data_mb=10, table=[rate("ce")])
    assert validation_only.images_read == cost.images_read and validation_only.scores_gb == pytest.approx(
        10 * (4 * 9 + 8) / 2**30
    )


def test_a_method_without_a_rate_is_costed_at_ce_and_a_compiled_run_at_its_eager_rate():
    table = [rate("ce", images_per_second=50.0), rate("haframe", images_per_second=40.0)]
    assert rate_for(run_of("haframe"), table).images_per_second == 40.0
    assert rate_for(run_of("hxe"), table).images_per_second == 50.0  # no hxe row: CE's
    assert rate_for(run_of("ce", head="I"), table) is None  # no type-I row at all
    compiled = run_of("haframe", compile="inductor")
    assert rate_for(compiled, table).compile == "none"
    assert (
        rate_for(compiled, [*table, rate("haframe", images_per_second=60.0, compile="inductor")]).images_per_second
        == 60.0
    )
    cost = dataset_cost(
        "synthetic", [(compiled, ()), (run_of("ce", head="I"), ())], {"train": 1, "val": 1, "test": 1}, 9, 0, table
    )
    assert cost.gpu_hours is None and cost.unmeasured == ("tiny_cnn type I fp32",) and cost.eager_for_compiled


def test_the_table_has_the_paper_backbones_on_a_named_gpu():
    gpu = [row for row in TABLE if row.device == "gpu"]
    assert {row.backbone for row in gpu} >= {"resnet50", "wrn28_8"}
    assert all(row.device_name and row.measured and row.images_per_second > 0 for row in TABLE)
    for backbone in ("resnet50", "wrn28_8"):
        for head in ("I", "II"):
            for precision, channels_last in (("fp32", False), ("bf16", True)):
                assert any(
                    (r.backbone, r.method, r.head, r.precision, r.channels_last)
                    == (backbone, "ce", head, precision, channels_last)
                    for r in gpu
                ), (backbone, head, precision)


def test_a_pixel_store_adds_its_bytes_to_the_prepared_disk_and_is_for_image_datasets_only():
    import yaml

    from haframe.runs import ConfigError

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert Study(config).prepared_disk_mb("fgvc_aircraft") == 5_000  # no store: the kind's room alone
    config["datasets"]["fgvc_aircraft"]["store"] = "pixels"
    study = Study(config)
    images = 3_334 + 3_333 + 3_333
    assert study.prepared_disk_mb("fgvc_aircraft") == pytest.approx(5_000 + images * 224 * 224 * 3 / 2**20)
    small = tiny_config()
    small["datasets"]["synthetic"]["store"] = "pixels"
    with pytest.raises(ConfigError, match=r"datasets.synthetic.store: not an option of kind 'synthetic'"):
        Study(small)


def test_a_training_job_s_wall_time_is_its_cost_estimate_with_a_margin():
    """Issue 26: every SLURM training job asked for 24 h; now the study's own estimate x3 + 30
    min (a day only where no rate is measured)."""
    study = Study(load_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), "config.yaml"))
    table = read_throughput(THROUGHPUT_FILE)
    run = study.run("fgvc_aircraft", "haframe", 0)
    minutes = gpu_seconds(images_of(run, study.split_sizes("fgvc_aircraft")), rate_for(run, table)) / 60
    assert training_runtime(run, study.split_sizes("fgvc_aircraft"), table) == max(60, math.ceil(3 * minutes + 30))
    inat = study.run("inat19", "haframe", 0)
    assert 8 * 60 < training_runtime(inat, study.split_sizes("inat19"), table) < 14 * 60
    assert training_runtime(inat, study.split_sizes("inat19"), []) == 24 * 60  # no rate measured
    train = next(job for job in study.compile({}).of("train") if job.wildcards["dataset"] == "inat19")
    run = study.run("inat19", train.wildcards["variant"], int(train.wildcards["seed"]))
    assert train.resources["runtime"] == training_runtime(run, study.split_sizes("inat19"), table)
