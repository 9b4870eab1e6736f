"""Two JAX processes train one model on a sharded manifest (examples/multihost_jax.py)."""

import json
import os
import subprocess
import sys

import pytest

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples", "multihost_jax.py")

pytestmark = pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND") != "jax", reason="multi-process training runs on JAX"
)


@pytest.mark.slow
def test_two_processes_end_with_identical_weights_and_serve_every_row_once(tmp_path):
    # 101 rows, 8 per process: 7 global steps of 16, the last one padded on both hosts.
    result = subprocess.run(
        [
            sys.executable, EXAMPLE,
            "--processes", "2", "--epochs", "2", "--rows", "101",
            "--batch-size", "8", "--out", str(tmp_path), "--timeout", "240",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ok"], summary
    assert summary["process_indices"] == [0, 1]
    assert summary["batches_per_epoch"] == [7, 7]
    assert summary["global_batch_size"] == 16
    assert summary["identical_weights"]
    assert len(set(summary["weights_sha256"])) == 1
    assert summary["exactly_once_per_epoch"] == [True, True]
    # Padding rows have zero weight: the weighted accuracy counts the 101 rows only.
    for accuracy in summary["history"]["accuracy"]:
        assert abs(accuracy * 101 - round(accuracy * 101)) < 1e-3
