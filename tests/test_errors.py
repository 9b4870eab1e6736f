"""Every bad input is reported with its culprit: the line, the id, the column, the file.

Manifest problems raise `kd.ManifestError` (a `ValueError` with `.problems`) from
the constructor, before any batch; a sample that cannot be loaded raises
`kd.SampleError` naming its file and its line; a bad argument raises `ValueError`.
Never a bare `KeyError`, `IndexError` or NumPy error.
"""

import contextlib
import os

import numpy as np
import pandas as pd
import pytest

import kdataset as kd
from tests.conftest import row_of, write_samples
from tests.spy import PROCESSES

# How a batch is loaded: in the calling thread, by two threads, by two processes.
WORKER_SETTINGS = [
    pytest.param({}, id="in-thread"),
    pytest.param({"workers": 2}, id="threads"),
    pytest.param(PROCESSES, id="processes"),
]


def _file(folder, sample_id):
    return os.path.join(os.fspath(folder), "data", f"{sample_id}.npy")


def _lines(error):
    return {p.line for p in error.problems}


# -- spoiling a sample file ----------------------------------------------------


def _truncate(path):
    """A valid file with its last 4 data bytes cut off."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 4)


def _garbage(path):
    with open(path, "wb") as f:
        f.write(b"this is not a .npy file at all, just some bytes\n" * 3)


def _other_shape(path):
    np.save(path, np.zeros((5,), dtype="float32"))


def _other_dtype(path):
    np.save(path, np.zeros((4,), dtype="float64"))


def _object_array(path):
    np.save(path, np.array([1, "two", None, 4.0], dtype=object), allow_pickle=True)


SPOILERS = {
    "truncated": (_truncate, "truncated"),
    "not-npy": (_garbage, "not a readable .npy file"),
    "other-shape": (_other_shape, "shape (5,)"),
    "other-dtype": (_other_dtype, "float64"),
    "object-array": (_object_array, "Python objects"),
}


def _assert_names_sample(error, path, line, sample_id):
    message = str(error)
    assert type(error) is kd.SampleError
    assert isinstance(error, ValueError)
    assert error.path == path
    assert error.line == line
    assert error.id == sample_id
    assert path in message
    assert line in message
    assert f"id {sample_id!r}" in message


# -- loaders used below: module level, so worker processes can unpickle them --


def _load_unless_0002(path):
    if path.endswith("0002.npy"):
        raise OSError("the disk said no")
    return kd.NpyLoader()(path)  # np.load is not thread-safe before Python 3.11.9


# -- missing columns -----------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "column"),
    [("label_column", "species"), ("path_column", "file"), ("id_column", "key")],
)
def test_a_missing_column_is_named_with_the_columns_there_are(samples, argument, column):
    manifest = samples(6)

    with pytest.raises(kd.ManifestError) as info:
        kd.ManifestDataset(manifest, **{argument: column})

    message = str(info.value)
    assert f"no column {column!r}" in message
    assert f"`{argument}`" in message
    assert "Columns: 'id', 'label', 'path'" in message
    assert [p.column for p in info.value.problems] == [column]


def test_a_path_template_field_that_is_no_column_is_named(samples):
    manifest = samples(6)

    with pytest.raises(kd.ManifestError) as info:
        kd.ManifestDataset(manifest, path_template="data/{name}.npy")

    message = str(info.value)
    assert "no column 'name'" in message
    assert "`path_template`" in message
    assert "Columns: 'id', 'label', 'path'" in message
    assert [p.column for p in info.value.problems] == ["name"]


# -- row problems --------------------------------------------------------------


def test_a_duplicate_id_is_named_with_both_its_lines(tmp_path):
    manifest = write_samples(tmp_path, 5, ids=["0000", "0001", "0002", "0001", "0004"])

    with pytest.raises(kd.ManifestError) as info:
        kd.ManifestDataset(manifest)

    (problem,) = info.value.problems
    assert problem.id == "0001"
    assert "duplicate id" in problem.message
    assert "line 3 of train.csv" in problem.message
    assert "line 5 of train.csv" in problem.message
    message = str(info.value)
    assert "id '0001'" in message
    assert "line 3 of train.csv, line 5 of train.csv" in message


def test_empty_labels_are_named_by_their_lines(tmp_path):
    manifest = write_samples(tmp_path, 5, labels=["a", "", "b", "a", ""])

    with pytest.raises(kd.ManifestError) as info:
        kd.ManifestDataset(manifest)

    assert _lines(info.value) == {"line 3 of train.csv", "line 6 of train.csv"}
    assert {p.id for p in info.value.problems} == {"0001", "0004"}
    assert all(p.message == "empty label" and p.column == "label" for p in info.value.problems)
    message = str(info.value)
    assert "line 3 of train.csv, id '0001', column 'label': empty label" in message
    assert "line 6 of train.csv, id '0004', column 'label': empty label" in message


def test_a_missing_file_is_named_at_construction_before_any_batch(tmp_path):
    manifest = write_samples(tmp_path, 6)
    missing = _file(tmp_path, "0002")
    os.remove(missing)

    with pytest.raises(kd.ManifestError) as info:
        kd.ManifestDataset(manifest, batch_size=2)

    (problem,) = info.value.problems
    assert problem.line == "line 4 of train.csv"
    assert problem.id == "0002"
    assert problem.path == missing
    assert "file not found" in problem.message
    message = str(info.value)
    assert "line 4 of train.csv" in message
    assert repr(missing) in message


def test_an_unknown_label_among_given_classes_is_named_with_its_line(samples):
    manifest = samples(5)  # labels a, b, c, a, b

    with pytest.raises(kd.ManifestError) as info:
        kd.ManifestDataset(manifest, classes=["a", "b"])

    (problem,) = info.value.problems
    assert problem.line == "line 4 of train.csv"
    assert problem.id == "0002"
    message = str(info.value)
    assert "unknown label 'c'" in message
    assert "line 4 of train.csv" in message
    assert "'a', 'b'" in message


def test_a_manifest_with_a_header_and_no_rows_is_an_error(tmp_path):
    manifest = tmp_path / "train.csv"
    manifest.write_text("id,label,path\n")

    with pytest.raises(kd.ManifestError) as info:
        kd.ManifestDataset(manifest)

    message = str(info.value)
    assert "no rows" in message
    assert "train.csv" in message
    assert len(info.value.problems) == 1


def test_a_completely_empty_manifest_file_is_an_error(tmp_path):
    manifest = tmp_path / "train.csv"
    manifest.write_text("")

    with pytest.raises(kd.ManifestError) as info:
        kd.ManifestDataset(manifest)

    message = str(info.value)
    assert "no rows and no header" in message
    assert "train.csv" in message


def test_binary_labels_need_exactly_two_classes(samples):
    manifest = samples(6)  # three classes: a, b, c

    with pytest.raises(kd.ManifestError) as info:
        kd.ManifestDataset(manifest, label_mode="binary")

    message = str(info.value)
    assert "`label_mode='binary'` needs exactly 2 classes; found 3" in message
    assert "'a', 'b', 'c'" in message
    assert [p.column for p in info.value.problems] == ["label"]


def test_several_problems_are_all_reported_at_once(tmp_path):
    manifest = write_samples(
        tmp_path, 5, ids=["0000", "0001", "0000", "0003", "0004"], labels=["a", "b", "a", "", "b"]
    )
    os.remove(_file(tmp_path, "0004"))

    with pytest.raises(kd.ManifestError) as info:
        kd.ManifestDataset(manifest)

    problems = {p.message.split(",")[0].split(":")[0]: p for p in info.value.problems}
    assert set(problems) == {"duplicate id", "empty label", "file not found"}
    assert problems["duplicate id"].id == "0000"
    assert "line 2 of train.csv, line 4 of train.csv" in problems["duplicate id"].message
    assert problems["empty label"].line == "line 5 of train.csv"
    assert problems["file not found"].line == "line 6 of train.csv"
    assert problems["file not found"].path == _file(tmp_path, "0004")
    assert "3 problems found" in str(info.value)


def test_beyond_ten_problems_the_message_is_short_but_none_is_lost(tmp_path):
    manifest = write_samples(tmp_path, 14, labels=[""] * 12 + ["a", "b"])

    with pytest.raises(kd.ManifestError) as info:
        kd.ManifestDataset(manifest)

    assert len(info.value.problems) == 12
    assert _lines(info.value) == {f"line {i} of train.csv" for i in range(2, 14)}
    message = str(info.value)
    assert "12 problems found" in message
    assert "... and 2 more." in message


# -- DataFrame manifests -------------------------------------------------------


def _frame(folder, n, **kwargs):
    return pd.read_csv(write_samples(folder, n, **kwargs), dtype=str, keep_default_na=False)


def test_a_problem_in_a_dataframe_manifest_is_located_by_row(tmp_path):
    frame = _frame(tmp_path, 5)
    frame.loc[3, "label"] = None

    with pytest.raises(kd.ManifestError) as info:
        kd.ManifestDataset(frame, root_dir=tmp_path)

    (problem,) = info.value.problems
    assert problem.line == "row 3"
    assert problem.id == "0003"
    assert "row 3, id '0003', column 'label': empty label" in str(info.value)


def test_a_missing_file_in_a_dataframe_manifest_is_located_by_row(tmp_path):
    frame = _frame(tmp_path, 5)
    os.remove(_file(tmp_path, "0001"))

    with pytest.raises(kd.ManifestError) as info:
        kd.ManifestDataset(frame, root_dir=tmp_path)

    (problem,) = info.value.problems
    assert problem.line == "row 1"
    assert problem.path == _file(tmp_path, "0001")


def test_a_problem_in_a_filtered_dataframe_is_located_by_its_index_label(tmp_path):
    # A DataFrame filtered with a mask keeps its index labels (0, 2, 3, 4 here):
    # the row is named by its label, plainly, as the user sees it in the frame.
    frame = _frame(tmp_path, 5)
    frame = frame[frame["id"] != "0001"].copy()
    frame.loc[3, "label"] = None

    with pytest.raises(kd.ManifestError) as info:
        kd.ManifestDataset(frame, root_dir=tmp_path)

    (problem,) = info.value.problems
    assert problem.line == "row 3"
    assert "row 3, id '0003'" in str(info.value)


# -- arguments -----------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "32"])
def test_a_bad_batch_size_is_a_value_error_naming_it(samples, batch_size):
    manifest = samples(6)

    with pytest.raises(ValueError) as info:
        kd.ManifestDataset(manifest, batch_size=batch_size)

    assert type(info.value) is ValueError
    message = str(info.value)
    assert "Invalid `batch_size`: expected an integer >= 1" in message
    assert f"Received: batch_size={batch_size!r}" in message


def test_an_invalid_label_mode_is_reported_in_keras_style(samples):
    manifest = samples(6)

    with pytest.raises(ValueError) as info:
        kd.ManifestDataset(manifest, label_mode="onehot")

    assert type(info.value) is ValueError
    message = str(info.value)
    assert message.startswith("Invalid `label_mode`: expected one of {")
    for mode in ("int", "categorical", "binary", "multi_hot"):
        assert repr(mode) in message
    assert message.endswith("Received: label_mode='onehot'")


# -- samples that cannot be loaded ----------------------------------------------


@pytest.mark.parametrize("settings", WORKER_SETTINGS)
@pytest.mark.parametrize("spoil", list(SPOILERS))
def test_a_bad_sample_names_its_file_and_line_and_the_rest_still_loads(tmp_path, spoil, settings):
    manifest = write_samples(tmp_path, 12)
    spoiler, reason = SPOILERS[spoil]
    bad = _file(tmp_path, "0006")
    spoiler(bad)

    with contextlib.closing(kd.ManifestDataset(manifest, batch_size=4, seed=3, **settings)) as ds:
        (bad_batch,) = [b for b in range(len(ds)) if 6 in ds.batch_rows(b).tolist()]

        with pytest.raises(kd.SampleError) as info:
            ds[bad_batch]

        _assert_names_sample(info.value, bad, "line 8 of train.csv", "0006")
        assert reason in str(info.value)
        # The error is repeatable, and the other batches are unharmed.
        with pytest.raises(kd.SampleError, match=r"line 8 of train\.csv"):
            ds[bad_batch]
        for b in range(len(ds)):
            if b != bad_batch:
                x, y = ds[b]
                assert row_of(x) == ds.batch_rows(b).tolist()
                assert len(y) == len(x)


@pytest.mark.parametrize("spoil", ["truncated", "not-npy", "object-array"])
def test_a_bad_first_sample_is_reported_by_the_constructor(tmp_path, spoil):
    manifest = write_samples(tmp_path, 6)
    spoiler, reason = SPOILERS[spoil]
    bad = _file(tmp_path, "0000")
    spoiler(bad)

    with pytest.raises(kd.SampleError) as info:
        kd.ManifestDataset(manifest, batch_size=2)

    _assert_names_sample(info.value, bad, "line 2 of train.csv", "0000")
    assert reason in str(info.value)


@pytest.mark.parametrize("settings", WORKER_SETTINGS)
def test_a_loader_function_that_raises_is_reported_with_the_file(tmp_path, settings):
    manifest = write_samples(tmp_path, 6)

    with contextlib.closing(
        kd.ManifestDataset(
            manifest, batch_size=3, shuffle=False, **{**settings, "loader": _load_unless_0002}
        )
    ) as ds:
        with pytest.raises(kd.SampleError) as info:
            ds[0]

        _assert_names_sample(info.value, _file(tmp_path, "0002"), "line 4 of train.csv", "0002")
        assert "OSError: the disk said no" in str(info.value)
        x, _ = ds[1]
        assert row_of(x) == [3, 4, 5]


def test_a_loader_function_that_raises_on_the_first_sample_fails_the_constructor(tmp_path):
    manifest = write_samples(tmp_path, 4)

    def broken(path):
        raise RuntimeError("cannot decode")

    with pytest.raises(kd.SampleError) as info:
        kd.ManifestDataset(manifest, loader=broken)

    _assert_names_sample(info.value, _file(tmp_path, "0000"), "line 2 of train.csv", "0000")
    assert "RuntimeError: cannot decode" in str(info.value)


def test_a_lambda_loader_with_processes_is_refused_at_construction(samples):
    manifest = samples(6)

    with pytest.raises(ValueError) as info:
        kd.ManifestDataset(manifest, loader=lambda p: np.load(p), use_multiprocessing=True)

    assert type(info.value) is ValueError
    message = str(info.value)
    assert "`use_multiprocessing=True`" in message
    assert "pickle" in message
    assert "lambda" in message


# -- DataGenerator ---------------------------------------------------------------


def test_data_generator_names_an_id_missing_from_labels(tmp_path):
    write_samples(tmp_path, 4)
    ids = ["0000", "0001", "0002", "0003"]
    labels = {"0000": 0, "0002": 1, "0003": 0}

    with pytest.raises(kd.ManifestError) as info:
        kd.DataGenerator(
            ids, labels, batch_size=2, dim=(4,), n_channels=1, n_classes=2, root_dir=tmp_path
        )

    assert [p.id for p in info.value.problems] == ["0001"]
    assert "id '0001'" in str(info.value)
    assert "`labels`" in str(info.value)


def test_data_generator_names_a_label_beyond_n_classes(tmp_path):
    write_samples(tmp_path, 4)
    ids = ["0000", "0001", "0002", "0003"]
    labels = {"0000": 0, "0001": 1, "0002": 12, "0003": 0}

    with pytest.raises(kd.ManifestError) as info:
        kd.DataGenerator(
            ids, labels, batch_size=2, dim=(4,), n_channels=1, n_classes=3, root_dir=tmp_path
        )

    (problem,) = info.value.problems
    assert problem.id == "0002"
    assert problem.line == "row 2"
    assert "unknown label 12" in str(info.value)


def test_data_generator_names_the_file_when_dim_does_not_match(tmp_path):
    write_samples(tmp_path, 4)  # samples of shape (4,)
    ids = ["0000", "0001", "0002", "0003"]
    labels = dict.fromkeys(ids, 0)

    with pytest.raises(ValueError) as info:
        kd.DataGenerator(
            ids, labels, batch_size=2, dim=(3, 3), n_channels=1, n_classes=2, root_dir=tmp_path
        )

    message = str(info.value)
    assert "`dim`" in message
    assert "(3, 3, 1)" in message
    assert "(4,)" in message
    assert repr(_file(tmp_path, "0000")) in message
