"""The examples run as a user copies them, on the active backend."""

import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples")


@pytest.mark.slow
def test_digits_example_trains_well_above_90_percent(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, "train_digits.py"), "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    assert f"backend: {backend}" in result.stdout
    accuracy = float(result.stdout.rsplit("validation accuracy:", 1)[1].split()[0])
    assert accuracy > 0.9
    assert (tmp_path / "classes.json").exists()
