"""validate_manifest: every problem, located, the same as the constructor finds."""

import os

import numpy as np
import pandas as pd
import pytest

import kdataset as kd
from tests.conftest import write_samples


def _spoiled_manifest(tmp_path):
    manifest = write_samples(tmp_path, 8)
    frame = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    frame.loc[2, "id"] = frame.loc[1, "id"]  # duplicate id (lines 3 and 4)
    frame.loc[4, "label"] = ""  # empty label (line 6)
    frame.to_csv(manifest, index=False)
    os.remove(os.path.join(tmp_path, frame.loc[6, "path"]))  # missing file (line 8)
    return manifest


def test_every_problem_with_its_place(tmp_path):
    problems = kd.validate_manifest(_spoiled_manifest(tmp_path))
    by_message = {p.message.split(",")[0]: p for p in problems}
    assert set(by_message) == {"duplicate id", "empty label", "file not found"}
    assert by_message["empty label"].line == "line 6 of train.csv"
    assert by_message["empty label"].column == "label"
    assert by_message["empty label"].id == "0004"
    missing = by_message["file not found"]
    assert missing.line == "line 8 of train.csv" and missing.path.endswith("0006.npy")
    assert "line 3 of train.csv, line 4 of train.csv" in by_message["duplicate id"].message


def test_the_constructor_raises_the_same_findings(tmp_path):
    manifest = _spoiled_manifest(tmp_path)
    with pytest.raises(kd.ManifestError) as info:
        kd.ManifestDataset(manifest)
    assert info.value.problems == kd.validate_manifest(manifest)


def test_a_clean_manifest_has_no_problems_and_dataset_arguments_are_accepted(tmp_path):
    manifest = write_samples(tmp_path, 5)
    assert kd.validate_manifest(manifest, batch_size=2, shuffle=False, seed=1, workers=2) == []
    assert kd.validate_manifest(manifest, deep=True) == []


def test_deep_finds_samples_that_do_not_load(tmp_path):
    manifest = write_samples(tmp_path, 300)
    data = os.path.join(tmp_path, "data")
    np.save(os.path.join(data, "0100.npy"), np.zeros((5,), "float32"))  # other shape
    np.save(os.path.join(data, "0200.npy"), np.zeros((4,), "int64"))  # other dtype
    with open(os.path.join(data, "0299.npy"), "r+b") as f:  # truncated
        f.truncate(os.path.getsize(os.path.join(data, "0299.npy")) - 3)
    assert kd.validate_manifest(manifest) == []  # the shallow check reads the first sample only
    problems = kd.validate_manifest(manifest, deep=True, progress=True)
    assert [p.line for p in problems] == [
        "line 102 of train.csv",
        "line 202 of train.csv",
        "line 301 of train.csv",
    ]
    assert "shape (5,)" in problems[0].message and "int64" in problems[1].message
    assert "truncated" in problems[2].message
    assert all(p.path.endswith(f"{p.id}.npy") for p in problems)


def test_a_bad_first_sample_is_a_problem_not_an_exception(tmp_path):
    manifest = write_samples(tmp_path, 3)
    with open(os.path.join(tmp_path, "data", "0000.npy"), "wb") as f:
        f.write(b"not an array")
    (problem,) = kd.validate_manifest(manifest)
    assert problem.line == "line 2 of train.csv" and "not a readable .npy file" in problem.message


def test_bad_arguments_still_raise(tmp_path):
    with pytest.raises(ValueError, match="Invalid `label_mode`"):
        kd.validate_manifest(write_samples(tmp_path, 3), label_mode="onehot")


def test_sample_weight_column_problems_are_located(tmp_path):
    manifest = write_samples(tmp_path, 4)
    frame = pd.read_csv(manifest, dtype=str)
    frame["w"] = ["1", "0.5", "-1", "heavy"]
    frame.to_csv(manifest, index=False)
    problems = kd.validate_manifest(manifest, sample_weight="w")
    assert [(p.line, p.column) for p in problems] == [
        ("line 4 of train.csv", "w"),
        ("line 5 of train.csv", "w"),
    ]
    assert "'heavy'" in problems[1].message


def test_lines_are_real_lines_despite_blank_lines_and_multiline_cells(tmp_path):
    write_samples(tmp_path, 3)
    (tmp_path / "m.csv").write_text(
        "id,label,note,path\n"
        "\n"
        '0000,a,"two\nlines",data/0000.npy\n'
        "0001,,,data/0001.npy\n"
        "\n"
        "0002,b,,data/missing.npy\n"
    )
    problems = kd.validate_manifest(tmp_path / "m.csv")
    assert [(p.line, p.message) for p in problems] == [
        ("line 5 of m.csv", "empty label"),
        ("line 7 of m.csv", "file not found"),
    ]


def test_every_dataset_argument_is_accepted(tmp_path):
    manifest = write_samples(tmp_path, 5)
    arguments = {
        "pad_remainder": True,
        "on_error": "skip",
        "cache": tmp_path / "x.kdcache",
        "drop_remainder": False,
        "max_queue_size": 0,
    }
    assert kd.validate_manifest(manifest, **arguments) == []
    with pytest.raises(ValueError, match="Invalid `on_error`"):
        kd.validate_manifest(manifest, on_error="ignore")
    with pytest.raises(ValueError, match=r"Invalid `loader`: expected 'auto', 'npy', 'image'"):
        kd.validate_manifest("never-read.csv", loader="jpeg")  # checked before any reading
    with pytest.raises(TypeError, match="Unknown dataset argument 'label_colum'"):
        kd.validate_manifest(manifest, label_colum="label")


def test_deep_reports_a_corrupt_first_sample_and_the_others(tmp_path):
    manifest = write_samples(tmp_path, 40)
    for sample_id in ("0000", "0001", "0030"):
        with open(os.path.join(tmp_path, "data", f"{sample_id}.npy"), "wb") as f:
            f.write(b"garbage")
    problems = kd.validate_manifest(manifest, deep=True)
    assert [p.id for p in problems] == ["0000", "0001", "0030"]
    assert all("not a readable .npy file" in p.message for p in problems)
    (shallow,) = kd.validate_manifest(manifest)  # the shallow check stops at the first
    assert shallow.id == "0000"


def test_many_missing_files_say_where_they_are_found(tmp_path, monkeypatch):
    manifest = write_samples(tmp_path / "project", 12)
    os.makedirs(tmp_path / "lists")
    moved = tmp_path / "lists" / "train.csv"
    os.rename(manifest, moved)  # paths are relative to project/, not to lists/
    monkeypatch.chdir(tmp_path / "project")
    problems = kd.validate_manifest(moved)
    hint, *missing = problems
    assert hint.line is None and "12 of the 12 files are missing" in hint.message
    assert f"pass `root_dir`={str(tmp_path / 'project')!r}" in hint.message
    assert len(missing) == 12 and {p.message for p in missing} == {"file not found"}
    assert kd.validate_manifest(moved, root_dir=tmp_path / "project") == []
