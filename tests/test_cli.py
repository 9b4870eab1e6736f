"""The `kdataset` command, run as a user would: a subprocess on real files."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import kdataset
from tests.conftest import write_samples

KDATASET = os.path.join(os.path.dirname(sys.executable), "kdataset")


def run(*args, cwd=None):
    return subprocess.run(
        [KDATASET, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"kdataset {kdataset.__version__}"


def test_help_names_every_command():
    result = run("--help")
    assert result.returncode == 0
    for command in ("validate", "stats", "classes", "split"):
        assert command in result.stdout
    for command in ("validate", "stats", "classes", "split"):
        sub = run(command, "--help")
        assert sub.returncode == 0 and f"usage: kdataset {command}" in sub.stdout


def test_import_does_not_load_keras():
    code = "import sys, kdataset; kdataset.__version__; print('keras' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_validate_clean_manifest_exits_0(tmp_path):
    result = run("validate", write_samples(tmp_path, 5))
    assert result.returncode == 0, result.stderr
    assert "no problems found" in result.stdout


def test_validate_lists_problems_and_exits_1(tmp_path):
    manifest = write_samples(tmp_path, 6)
    frame = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    frame.loc[3, "label"] = ""
    frame.to_csv(manifest, index=False)
    os.remove(tmp_path / "data" / "0005.npy")
    result = run("validate", manifest)
    assert result.returncode == 1
    assert "2 problems" in result.stdout
    assert "line 5 of train.csv" in result.stdout and "empty label" in result.stdout
    assert "0005.npy" in result.stdout and "file not found" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_validate_deep_with_a_template(tmp_path):
    manifest = write_samples(tmp_path, 5)
    np.save(tmp_path / "data" / "0003.npy", np.zeros((2, 2), "float32"))
    shallow = run("validate", manifest, "--path-template", "data/{id}.npy")
    assert shallow.returncode == 0
    deep = run("validate", manifest, "--path-template", "data/{id}.npy", "--deep")
    assert deep.returncode == 1
    assert "line 5 of train.csv" in deep.stdout and "shape (2, 2)" in deep.stdout


def test_validate_with_a_classes_file(tmp_path):
    manifest = write_samples(tmp_path, 6)
    classes = tmp_path / "classes.json"
    kdataset.LabelEncoder(classes=["a", "b"]).save(classes)
    result = run("validate", manifest, "--classes", classes)
    assert result.returncode == 1
    assert "unknown label 'c'" in result.stdout


def test_stats_prints_counts_and_imbalance(tmp_path):
    manifest = write_samples(tmp_path, 7, labels=["cat"] * 5 + ["dog"] * 2)
    result = run("stats", manifest)
    assert result.returncode == 0, result.stderr
    assert "cat" in result.stdout and "dog" in result.stdout
    assert "imbalance ratio 2.50" in result.stdout


def test_classes_writes_an_encoder_file(tmp_path):
    manifest = write_samples(tmp_path, 6, labels=[10, 2, 2, 10, 1, 1])
    out = tmp_path / "classes.json"
    result = run("classes", manifest, "-o", out)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["classes"] == [1, 2, 10]
    assert kdataset.LabelEncoder.load(out).classes == [1, 2, 10]


def test_split_writes_files_and_prints_stats(tmp_path):
    ids = [f"{i:03d}" for i in range(100)]
    labels = ["a"] * 70 + ["b"] * 30
    manifest = write_samples(tmp_path, 100, ids=ids, labels=labels)
    out = tmp_path / "splits"
    result = run(
        "split",
        manifest,
        "--val",
        0.2,
        "--test",
        0.1,
        "--stratify",
        "label",
        "--seed",
        3,
        "--out",
        out,
    )
    assert result.returncode == 0, result.stderr
    parts = {n: pd.read_csv(out / f"{n}.csv", dtype=str) for n in ("train", "val", "test")}
    assert sorted(i for p in parts.values() for i in p["id"]) == ids
    assert len(parts["val"]) == 20 and len(parts["test"]) == 10
    assert parts["val"]["label"].value_counts().to_dict() == {"a": 14, "b": 6}
    assert "train" in result.stdout and "val" in result.stdout and "root_dir" in result.stdout
    again = run(
        "split",
        manifest,
        "--val",
        0.2,
        "--test",
        0.1,
        "--stratify",
        "label",
        "--seed",
        3,
        "--out",
        out,
    )
    assert again.returncode == 1 and "--force" in again.stderr


def test_split_never_overwrites_the_manifest(tmp_path):
    manifest = write_samples(tmp_path, 10)
    os.rename(manifest, tmp_path / "val.csv")
    result = run("split", tmp_path / "val.csv", "--force")
    assert result.returncode == 1
    assert "would overwrite the manifest" in result.stderr
    assert len(pd.read_csv(tmp_path / "val.csv")) == 10


@pytest.mark.parametrize(
    "args,expected",
    [
        (["stats", "missing.csv"], "Manifest file not found"),
        (["stats", "{m}", "--label-column", "species"], "no column 'species'"),
        (["split", "{m}", "--val", "1.5"], "Invalid `val`"),
        (["split", "{m}", "--group", "patient"], "patient"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path, args, expected):
    manifest = write_samples(tmp_path, 5)
    result = run(*[a.format(m=manifest) for a in args], cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"kdataset {args[0]}: error:"), result.stderr
    assert expected in lines[0]
