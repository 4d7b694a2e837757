"""What a run's metrics.json becomes in MLflow (haframe.tracking)."""

from haframe.tracking import _test_metrics


def test_a_trials_validation_metrics_do_not_mix_with_its_curves_or_its_test_metrics():
    metrics = {
        "seed": 1_000_003,
        "top1_error": 30.0,
        "ahd@1": 0.6,
        "crm": {"top1_error": 31.0},
        "val": {"top1_error": 28.0, "n_val": 540, "crm": {"top1_error": 29.0}},
        "trial": {"index": 3, "repetition": 0, "drawn": {"alpha": 0.2}},
        "control": {"name": "shuffled_hierarchy", "seed": 7, "distance_correlation": 0.01},
    }
    logged = {key: value for key, value, _, step in _test_metrics(metrics, 0)}
    assert logged == {
        "test_top1_error": 30.0,
        "test_ahd_at_1": 0.6,
        "test_crm_top1_error": 31.0,
        "checkpoint_val_top1_error": 28.0,  # val_top1_error is the per-epoch curve's name
        "checkpoint_val_n_val": 540.0,
        "checkpoint_val_crm_top1_error": 29.0,
        "test_control_distance_correlation": 0.01,
    }
