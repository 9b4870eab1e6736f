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
from tests.test_backend import missing_backend_env

KDATASET = os.path.join(os.path.dirname(sys.executable), "kdataset")


def run(*args, cwd=None, env=None):
    return subprocess.run(
        [KDATASET, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def table_rows(output, text):
    """The rows of a printed table that hold `text`."""
    return [line for line in output.splitlines() if "│" in line and text in line]


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


def test_no_command_prints_help_and_exits_2():
    result = run()
    assert result.returncode == 2
    assert result.stdout == ""
    assert "usage: kdataset" in result.stderr and "validate" in result.stderr


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


def test_validate_shows_the_first_rows_and_counts_the_rest(tmp_path):
    manifest = write_samples(tmp_path, 1260)
    frame = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    frame.loc[1, "label"] = ""
    frame.to_csv(manifest, index=False)
    for i in range(3, 1260):
        os.remove(tmp_path / "data" / f"{i:04d}.npy")
    # 1,257 missing files and an empty label, and any hint of the whole manifest's.
    count = len(kdataset.validate_manifest(manifest))
    others = count - 1257
    result = run("validate", manifest)
    assert result.returncode == 1
    assert f"{count:,} problems" in result.stdout
    assert len(table_rows(result.stdout, "empty label")) == 1
    assert len(table_rows(result.stdout, "file not found")) == 20 - others
    hidden = count - 20
    assert (
        f"... and {hidden:,} more problems ({hidden:,} 'file not found'); "
        "pass --all to list every one"
    ) in result.stdout
    assert "problems by kind: 1,257 'file not found', " in result.stdout
    assert "1 'empty label'" in result.stdout
    every = run("validate", manifest, "--all")
    assert every.returncode == 1
    assert len(table_rows(every.stdout, "file not found")) == 1257
    assert "more problems" not in every.stdout


def test_validate_lists_problems_of_the_whole_manifest_first(tmp_path):
    manifest = write_samples(tmp_path, 30)
    frame = pd.read_csv(manifest, dtype=str)
    frame["a"], frame["b"] = "0", "1"
    frame.to_csv(manifest, index=False)
    for i in range(1, 30):
        os.remove(tmp_path / "data" / f"{i:04d}.npy")
    classes = tmp_path / "classes.json"
    kdataset.LabelEncoder(classes=["x", "y"], multi_label=True).save(classes)
    result = run("validate", manifest, "--label-columns", "a,b", "--classes", classes)
    assert result.returncode == 1
    # Found after the files, listed before them: the table shows it by default.
    problem = "`--classes` 'x', 'y' must name"
    assert problem in result.stdout
    assert result.stdout.index(problem) < result.stdout.index("file not found")


def test_validate_problems_name_flags(tmp_path):
    manifest = write_samples(tmp_path, 5)
    result = run("validate", manifest, "--path-template", "data/{name}.npy")
    assert result.returncode == 1
    assert "no column 'name' (a field of `--path-template`)" in result.stdout
    assert "path_template" not in result.stdout


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


def test_split_warnings_are_one_line_each(tmp_path):
    manifest = write_samples(tmp_path, 10, labels=["a"] * 8 + ["b", "c"])
    result = run("split", manifest, "--val", 0.2, "--stratify", "label", "--out", tmp_path / "s")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "kdataset split: warning: Stratifying on column 'label': 2 classes are missing from a "
        "split: 'b' has 1 row: 1 in train, 0 in val;"
    )
    assert "SplitWarning" not in result.stderr and "Traceback" not in result.stderr


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
        (["split", "{m}", "--val", "1.5"], "Invalid `--val`: expected a fraction in [0, 1). "),
        (["split", "{m}", "--val", "1.5"], "Received: --val=1.5"),
        (["split", "{m}", "--val", "0.6", "--test", "0.5"], "Received: --val=0.6, --test=0.5"),
        (["stats", "{m}", "--label-column", "species"], "(`--label-column`)"),
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


COMMANDS = [
    ["validate", "{m}"],
    ["stats", "{m}"],
    ["classes", "{m}", "-o", "{d}/classes.json"],
    ["split", "{m}", "--stratify", "label", "--out", "{d}/splits"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_commands_run_when_the_keras_backend_is_not_installed(tmp_path, args):
    env, _, _ = missing_backend_env(tmp_path)
    manifest = write_samples(tmp_path, 9)
    result = run(*[a.format(m=manifest, d=tmp_path) for a in args], env=env)
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "ModuleNotFoundError" not in output, output
    assert result.returncode == 0, output


def exit_code_and_backends(argv):
    """`"<exit code> [<Keras and backend modules imported>]"` of `kdataset.tools.cli.main(argv)`,
    run in a fresh process."""
    code = (
        "import sys, kdataset.tools.cli\n"
        f"code = kdataset.tools.cli.main({argv!r})\n"
        "print(code, sorted(m for m in ('keras', 'jax', 'tensorflow', 'torch') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_commands_do_not_import_keras(tmp_path, args):
    manifest = write_samples(tmp_path, 9)
    argv = [a.format(m=manifest, d=tmp_path) for a in args]
    assert exit_code_and_backends(argv) == "0 []"
