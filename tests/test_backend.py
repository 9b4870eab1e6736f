"""Keras set to a backend that is not installed: one clear `BackendError`, run as a user would."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

BACKENDS = ("tensorflow", "torch", "jax", "openvino")


def missing_backend():
    """The first Keras backend not installed here (skips the test if every one is)."""
    for backend in BACKENDS:
        if importlib.util.find_spec(backend) is None:
            return backend
    pytest.skip(f"every backend of {BACKENDS} is installed: none to test a missing one with")


def missing_backend_env(tmp_path, keras_backend=True):
    """An environment whose `$KERAS_HOME/keras.json` names a backend that is not installed.

    With `keras_backend`, `KERAS_BACKEND` names it too; without, it is unset, so
    Keras takes the backend from `keras.json`.

    Returns:
        `(env, backend, keras.json path)`.
    """
    backend = missing_backend()
    home = tmp_path / "keras_home"
    home.mkdir()
    config = home / "keras.json"
    config.write_text(json.dumps({"backend": backend}))
    env = {**os.environ, "KERAS_HOME": str(home)}
    env.pop("KERAS_BACKEND", None)
    if keras_backend:
        env["KERAS_BACKEND"] = backend
    return env, backend, str(config)


def python(code, env):
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


def install_hint(backend):
    if backend in ("jax", "tensorflow", "torch"):
        return f'pip install "kdataset[{backend}]"'
    return f"pip install {backend}"


def assert_backend_error(result, backend):
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("kdataset.BackendError: "), result.stderr
    # `from None`: no chained traceback of Keras's own import.
    assert "ModuleNotFoundError" not in result.stderr, result.stderr
    assert f"backend {backend!r}" in last and install_hint(backend) in last
    for installed in ("jax", "tensorflow", "torch"):
        if importlib.util.find_spec(installed) is not None:
            assert f"KERAS_BACKEND={installed}" in last
    return last


def test_backend_from_keras_json(tmp_path):
    env, backend, config = missing_backend_env(tmp_path, keras_backend=False)
    result = python("import kdataset; kdataset.ManifestDataset", env)
    message = assert_backend_error(result, backend)
    assert f"set in {config}" in message and "environment variable" not in message


def test_backend_from_environment_variable(tmp_path):
    env, backend, config = missing_backend_env(tmp_path)
    result = python("import kdataset; kdataset.ManifestDataset", env)
    message = assert_backend_error(result, backend)
    assert "the `KERAS_BACKEND` environment variable" in message and config not in message


def test_backend_error_is_an_import_error_and_keras_free_names_still_work(tmp_path):
    env, _, _ = missing_backend_env(tmp_path)
    code = (
        "import kdataset\n"
        "assert issubclass(kdataset.BackendError, ImportError)\n"
        "kdataset.split_manifest, kdataset.LabelEncoder, kdataset.ManifestError\n"
        "try:\n"
        "    kdataset.ManifestDataset\n"
        "except kdataset.BackendError:\n"
        "    print('BackendError')\n"
    )
    result = python(code, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "BackendError"


def test_a_keras_json_whose_backend_is_not_a_name_is_a_backend_error(tmp_path):
    home = tmp_path / "keras_home"
    home.mkdir()
    (home / "keras.json").write_text(json.dumps({"backend": 3}))
    env = {**os.environ, "KERAS_HOME": str(home)}
    env.pop("KERAS_BACKEND", None)
    result = python("import kdataset; kdataset.ManifestDataset", env)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("kdataset.BackendError: "), result.stderr
    assert "AttributeError" not in result.stderr
