"""haframe.sealed: a run's metrics.json is read only as evaluation wrote it (issue 25, item 11)."""

import json

import numpy as np
import pytest

from haframe.fileio import save_npz, write_json
from haframe.sealed import ResultMismatch, read_metrics, seal


def written(tmp_path, **changes) -> dict:
    """A sealed metrics.json beside its predictions, as assemble_metrics writes them."""
    result = {"top1_error": 29.63, "mistake_severity": 1.9, "ahd@1": 29.63 * 1.9 / 100, "n_test": 1080}
    result["crm"] = {"top1_error": 31.2, "mistake_severity": 1.8, "ahd@1": 31.2 * 1.8 / 100, "n_test": 1080}
    save_npz(tmp_path / "predictions.npz", targets=np.arange(5), ranked=np.arange(10).reshape(5, 2))
    write_json(tmp_path / "metrics.json", seal(result, tmp_path / "predictions.npz"))
    return result


def test_a_sealed_result_reads_back_as_written(tmp_path):
    result = written(tmp_path)
    assert read_metrics(tmp_path / "metrics.json") == result


def test_a_hand_edited_value_is_refused_naming_the_file(tmp_path):
    written(tmp_path)
    path = tmp_path / "metrics.json"
    edited = json.loads(path.read_text())
    edited["top1_error"] = 1.23
    path.write_text(json.dumps(edited))
    with pytest.raises(ResultMismatch, match=rf"^{path}: its values changed after evaluation wrote them"):
        read_metrics(path)


def test_other_predictions_are_refused(tmp_path):
    written(tmp_path)
    save_npz(tmp_path / "predictions.npz", targets=np.arange(5), ranked=np.zeros((5, 2), dtype=int))
    with pytest.raises(ResultMismatch, match=r"predictions.npz is missing or not the predictions it was computed from"):
        read_metrics(tmp_path / "metrics.json")


def test_an_unsealed_file_that_contradicts_itself_is_refused(tmp_path):
    """A file written before results were sealed is read after its invariants alone."""
    path = tmp_path / "metrics.json"
    write_json(path, {"top1_error": 1.23, "mistake_severity": 2.0, "ahd@1": 2.62, "crm": {"top1_error": 5.0}})
    with pytest.raises(
        ResultMismatch, match=r"ahd@1 2.62 is not top1_error x mistake_severity / 100 = 1.23 x 2.0 / 100"
    ):
        read_metrics(path)
    write_json(path, {"top1_error": 10.0, "mistake_severity": 2.0, "ahd@1": 0.2, "crm": {"top1_error": 130.0}})
    with pytest.raises(ResultMismatch, match=r"crm.top1_error 130.0 is outside \[0, 100\]"):
        read_metrics(path)
    write_json(path, {"top1_error": 0.0, "mistake_severity": None, "ahd@1": 0.0})
    assert read_metrics(path)["top1_error"] == 0.0  # no mistakes: no severity
