"""The `kdataset` command, run as a user would."""

import subprocess
import sys

import kdataset


def test_version():
    result = subprocess.run(
        [sys.executable, "-m", "kdataset.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == f"kdataset {kdataset.__version__}"


def test_console_script_is_installed():
    import os

    exe = os.path.join(os.path.dirname(sys.executable), "kdataset")
    assert os.path.exists(exe), "the `kdataset` console script is not installed"
    result = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True)
    assert "usage: kdataset" in result.stdout


def test_import_does_not_load_keras():
    code = "import sys, kdataset; kdataset.__version__; print('keras' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
