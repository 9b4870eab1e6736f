"""`split_manifest`: disjoint, complete and reproducible splits, stratified by class
(single- and multi-label) and grouped, with every bad input named."""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.model_selection import train_test_split

from kdataset.errors import ManifestError, Problem
from kdataset.tools.split import SplitWarning, split_manifest

SPLITS = ("train", "val", "test")
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
quiet = pytest.mark.filterwarnings("ignore::kdataset.tools.split.SplitWarning")


def _write_csv(folder, frame, name="train.csv"):
    path = os.path.join(os.fspath(folder), name)
    frame.to_csv(path, index=False)
    return path


def _frame(n, labels=None, groups=None):
    columns = {"id": [f"{i:04d}" for i in range(n)], "path": [f"data/{i}.npy" for i in range(n)]}
    if labels is not None:
        columns["label"] = list(labels)
    if groups is not None:
        columns["patient"] = list(groups)
    return pd.DataFrame(columns)


def _positions(splits):
    return {name: splits[name].index.tolist() for name in SPLITS}


def _assert_partition(splits, frame):
    """Every row of `frame` in exactly one split, each split in manifest order."""
    assert list(splits) == list(SPLITS)
    seen = []
    for name in SPLITS:
        part = splits[name]
        assert list(part.columns) == list(frame.columns)
        assert part.index.is_monotonic_increasing
        pd.testing.assert_frame_equal(part, frame.loc[part.index])
        seen += part.index.tolist()
    assert sorted(seen) == sorted(frame.index.tolist())
    assert len(seen) == len(set(seen)) == len(frame)


def _class_counts(splits, column="label"):
    return {name: splits[name][column].value_counts().to_dict() for name in SPLITS}


def _imbalanced(counts):
    """Labels 'c0', 'c1', ... with the given counts, shuffled."""
    labels = [f"c{j}" for j, count in enumerate(counts) for _ in range(count)]
    return np.random.default_rng(len(labels)).permutation(labels).tolist()


# -- plain splits ------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, val, test",
    [(100, 0.1, 0.0), (100, 0.2, 0.1), (7, 0.3, 0.3), (10, 0.25, 0.15), (1000, 0.05, 0.33)],
)
def test_plain_sizes_are_rounded_fractions(n, val, test):
    frame = _frame(n)

    splits = split_manifest(frame, val=val, test=test, seed=3)

    assert len(splits["val"]) == round(val * n)
    assert len(splits["test"]) == round(test * n)
    assert len(splits["train"]) == n - round(val * n) - round(test * n)
    _assert_partition(splits, frame)


def test_test_split_is_always_there_and_empty_without_test():
    frame = _frame(20)

    splits = split_manifest(frame, val=0.2)

    assert list(splits) == ["train", "val", "test"]
    assert splits["test"].empty
    assert list(splits["test"].columns) == list(frame.columns)


def test_same_seed_same_split_other_seed_other_split():
    frame = _frame(200)

    first = split_manifest(frame, val=0.2, test=0.1, seed=11)
    again = split_manifest(frame, val=0.2, test=0.1, seed=11)
    other = split_manifest(frame, val=0.2, test=0.1, seed=12)

    assert _positions(first) == _positions(again)
    assert _positions(first) != _positions(other)


def test_random_state_elsewhere_does_not_change_the_split():
    frame = _frame(50, labels=_imbalanced([30, 15, 5]))
    before = split_manifest(frame, val=0.2, stratify="label", seed=4)

    np.random.seed(123)
    np.random.random(10)
    after = split_manifest(frame, val=0.2, stratify="label", seed=4)

    assert _positions(before) == _positions(after)


def test_dataframe_keeps_its_index_and_is_not_changed():
    frame = _frame(30).set_index(pd.Index(range(100, 130)))
    copy = frame.copy()

    splits = split_manifest(frame, val=0.3)

    _assert_partition(splits, frame)
    assert min(min(p.index, default=100) for p in splits.values()) >= 100
    pd.testing.assert_frame_equal(frame, copy)


def test_csv_ids_stay_text_and_index_is_the_row_position(tmp_path):
    frame = pd.DataFrame(
        {"id": ["007", "0010", "1e3", "000", "42"], "label": ["a", "b", "a", "b", "a"]}
    )
    path = _write_csv(tmp_path, frame)

    splits = split_manifest(path, val=0.4, seed=1)

    ids = {i: v for part in splits.values() for i, v in part["id"].items()}
    assert ids == dict(enumerate(["007", "0010", "1e3", "000", "42"]))
    for part in splits.values():
        assert all(isinstance(v, str) for v in part["id"])
    # A row is traced back to its line: line = index + 2.
    lines = Path(path).read_text().splitlines()
    for part in splits.values():
        for position, sample_id in part["id"].items():
            assert lines[position + 1].split(",")[0] == sample_id


def test_csv_and_dataframe_give_the_same_split(tmp_path):
    frame = _frame(60, labels=_imbalanced([40, 15, 5]), groups=[i // 3 for i in range(60)])
    path = _write_csv(tmp_path, frame)

    for kwargs in ({}, {"stratify": "label"}, {"group": "patient"}):
        from_csv = split_manifest(path, val=0.2, test=0.1, seed=5, **kwargs)
        from_frame = split_manifest(frame, val=0.2, test=0.1, seed=5, **kwargs)
        assert _positions(from_csv) == _positions(from_frame)


_SCRIPT = """
import json, sys, warnings
import kdataset.tools.split as s
warnings.simplefilter("ignore")
path = sys.argv[1]
out = {}
for name, kwargs in [
    ("plain", {}),
    ("stratify", {"stratify": "label"}),
    ("group", {"group": "patient"}),
    ("both", {"group": "patient", "stratify": "label"}),
    ("multi", {"stratify": "tags", "label_separator": "|"}),
]:
    splits = s.split_manifest(path, val=0.2, test=0.1, seed=9, **kwargs)
    out[name] = {k: v.index.tolist() for k, v in splits.items()}
print(json.dumps(out))
"""


@quiet
def test_same_split_in_new_processes_whatever_the_hash_seed(tmp_path):
    rng = np.random.default_rng(0)
    frame = _frame(
        120,
        labels=rng.choice(["cat", "dog", "bird", "fish"], size=120, p=[0.5, 0.3, 0.15, 0.05]),
        groups=[f"p{rng.integers(40)}" for _ in range(120)],
    )
    frame["tags"] = [
        "|".join(rng.choice(list("abcdef"), size=rng.integers(0, 3))) for _ in range(120)
    ]
    path = _write_csv(tmp_path, frame)
    script = tmp_path / "split_it.py"
    script.write_text(_SCRIPT)

    outputs = []
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        done = subprocess.run(
            [sys.executable, str(script), path], capture_output=True, text=True, env=env, check=True
        )
        outputs.append(json.loads(done.stdout))

    assert outputs[0] == outputs[1]
    here = {}
    for name, kwargs in [
        ("plain", {}),
        ("stratify", {"stratify": "label"}),
        ("group", {"group": "patient"}),
        ("both", {"group": "patient", "stratify": "label"}),
        ("multi", {"stratify": "tags", "label_separator": "|"}),
    ]:
        here[name] = _positions(split_manifest(path, val=0.2, test=0.1, seed=9, **kwargs))
    assert outputs[0] == here


# -- stratified --------------------------------------------------------------------


@quiet
@pytest.mark.parametrize(
    "counts",
    [[91, 9], [47, 23, 11, 6], [203, 37, 11, 3], [13, 7, 7, 5, 3, 2], [1001, 9], [8, 8, 8, 8, 4]],
    ids=str,
)
@pytest.mark.parametrize("val", [0.15, 0.2, 0.3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stratified_val_is_at_least_as_close_as_sklearn(counts, val, seed):
    # The same val size for both: sklearn's `test_size` as a count.
    labels = _imbalanced(counts)
    n_val = round(val * len(labels))
    _, reference = train_test_split(
        np.arange(len(labels)), test_size=n_val, stratify=labels, random_state=seed
    )
    reference_counts = pd.Series(labels).iloc[reference].value_counts().to_dict()

    splits = split_manifest(
        _frame(len(labels), labels=labels), val=val, stratify="label", seed=seed
    )

    ours = _class_counts(splits)["val"]
    exact = {f"c{j}": val * count for j, count in enumerate(counts)}
    our_error = max(abs(ours.get(c, 0) - x) for c, x in exact.items())
    sklearn_error = max(abs(reference_counts.get(c, 0) - x) for c, x in exact.items())
    assert len(splits["val"]) == n_val == len(reference)
    assert our_error < 1
    assert our_error <= sklearn_error + 1e-9


@quiet
@pytest.mark.parametrize("val, test", [(0.2, 0.1), (0.15, 0.15), (0.1, 0.3), (0.33, 0.33)])
def test_stratified_every_class_within_one_row_of_its_share_in_every_split(val, test):
    counts = [61, 29, 17, 8, 5]
    frame = _frame(sum(counts), labels=_imbalanced(counts))

    splits = split_manifest(frame, val=val, test=test, stratify="label", seed=2)

    _assert_partition(splits, frame)
    n = sum(counts)
    assert len(splits["val"]) == round(val * n)
    assert len(splits["test"]) == round(test * n)
    got = _class_counts(splits)
    for j, count in enumerate(counts):
        for name, fraction in zip(SPLITS, (1 - val - test, val, test)):
            assert abs(got[name].get(f"c{j}", 0) - fraction * count) < 1, (name, j)


def test_stratified_numeric_labels_from_a_csv(tmp_path):
    labels = ["10"] * 40 + ["2"] * 20 + ["1"] * 10
    path = _write_csv(tmp_path, _frame(70, labels=labels))

    splits = split_manifest(path, val=0.3, stratify="label", seed=0)

    assert _class_counts(splits)["val"] == {"10": 12, "2": 6, "1": 3}


def test_too_small_class_is_reported_and_kept_in_train():
    labels = ["common"] * 50 + ["rare"]
    frame = _frame(51, labels=labels)

    with pytest.warns(SplitWarning) as record:
        splits = split_manifest(frame, val=0.2, test=0.1, stratify="label", seed=0)

    message = " ".join(str(w.message) for w in record)
    assert "'rare' has 1 row: 1 in train, 0 in val, 0 in test" in message
    assert "'common'" not in message
    _assert_partition(splits, frame)
    assert splits["train"]["label"].tolist().count("rare") == 1


def test_class_whose_share_rounds_to_nothing_is_reported():
    labels = ["big"] * 60 + ["small"] * 4
    frame = _frame(64, labels=labels)

    with pytest.warns(SplitWarning, match=r"'small' has 4 rows: 4 in train, 0 in val"):
        splits = split_manifest(frame, val=0.1, stratify="label", seed=0)

    _assert_partition(splits, frame)
    assert len(splits["val"]) == round(0.1 * 64)


def test_classes_that_fit_every_split_raise_no_warning():
    frame = _frame(100, labels=_imbalanced([50, 30, 20]))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split_manifest(frame, val=0.2, test=0.1, stratify="label", seed=0)


def test_empty_split_is_reported():
    with pytest.warns(SplitWarning, match=r"Split 'val' is empty: val=0.1 of 3 rows rounds to 0"):
        splits = split_manifest(_frame(3), val=0.1)

    assert len(splits["train"]) == 3


# -- grouped -----------------------------------------------------------------------


def _groups_of(sizes):
    return [f"p{g:03d}" for g, size in enumerate(sizes) for _ in range(size)]


def _assert_groups_stay_together(splits, column="patient"):
    homes = {}
    for name in SPLITS:
        for value in splits[name][column]:
            assert homes.setdefault(value, name) == name, f"group {value!r} is in two splits"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_group_never_crosses_splits_and_sizes_are_close(seed):
    sizes = np.random.default_rng(seed).integers(1, 9, size=80)
    groups = _groups_of(sizes)
    frame = _frame(len(groups), groups=np.random.default_rng(seed).permutation(groups))

    splits = split_manifest(frame, val=0.2, test=0.1, group="patient", seed=seed)

    _assert_partition(splits, frame)
    _assert_groups_stay_together(splits)
    n = len(frame)
    for name, fraction in zip(SPLITS[1:], (0.2, 0.1)):
        assert abs(len(splits[name]) - round(fraction * n)) < sizes.max()


def test_group_split_is_reproducible_and_depends_on_the_seed():
    frame = _frame(300, groups=[f"p{i % 60}" for i in range(300)])

    first = split_manifest(frame, val=0.2, group="patient", seed=1)
    again = split_manifest(frame, val=0.2, group="patient", seed=1)
    other = split_manifest(frame, val=0.2, group="patient", seed=2)

    assert _positions(first) == _positions(again)
    assert _positions(first) != _positions(other)
    assert len(first["val"]) == 60


def test_group_values_are_compared_as_text_in_a_csv(tmp_path):
    # " p1" and "p1" are one patient once stripped; "01" and "1" are two.
    frame = pd.DataFrame({"id": list("abcdef"), "patient": ["p1", "p1 ", "01", "1", "01", "1"]})
    path = _write_csv(tmp_path, frame)

    splits = split_manifest(path, val=0.5, group="patient", seed=0)

    homes = {}
    for name in SPLITS:
        for value in splits[name]["patient"]:
            assert homes.setdefault(value.strip(), name) == name


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_group_and_stratify_keep_groups_whole_and_class_shares(seed):
    rng = np.random.default_rng(seed)
    patients = 150
    patient_class = rng.choice(["healthy", "flu", "rare"], size=patients, p=[0.6, 0.3, 0.1])
    sizes = rng.integers(1, 4, size=patients)
    labels = [patient_class[p] for p in range(patients) for _ in range(sizes[p])]
    groups = _groups_of(sizes)
    frame = _frame(len(labels), labels=labels, groups=groups)

    stratified = split_manifest(
        frame, val=0.2, test=0.1, group="patient", stratify="label", seed=seed
    )
    plain = split_manifest(frame, val=0.2, test=0.1, group="patient", seed=seed)

    _assert_partition(stratified, frame)
    _assert_groups_stay_together(stratified)
    totals = pd.Series(labels).value_counts()

    def error(splits):
        got = _class_counts(splits)
        return max(
            abs(got[name].get(c, 0) - fraction * totals[c])
            for name, fraction in zip(SPLITS, (0.7, 0.2, 0.1))
            for c in totals.index
        )

    assert error(stratified) <= sizes.max()
    assert error(stratified) <= error(plain)


def test_group_with_a_single_group_reports_empty_splits():
    frame = _frame(10, groups=["only"] * 10)

    with pytest.warns(SplitWarning, match=r"Split 'val' is empty: the 1 group of column 'patient'"):
        splits = split_manifest(frame, val=0.3, group="patient")

    assert len(splits["train"]) == 10


# -- multi-label -------------------------------------------------------------------


def _tag_sets(n, seed=0):
    """Rows carrying 0 to 3 of six tags of very different frequencies."""
    rng = np.random.default_rng(seed)
    frequency = {"a": 0.5, "b": 0.3, "c": 0.2, "d": 0.1, "e": 0.05, "f": 0.02}
    return [[t for t, p in frequency.items() if rng.random() < p] for _ in range(n)]


def _assert_tag_shares(splits, tag_sets, read, fractions=(0.7, 0.2, 0.1)):
    totals = pd.Series([t for tags in tag_sets for t in tags]).value_counts()
    for name, fraction in zip(SPLITS, fractions):
        got = pd.Series([t for tags in read(splits[name]) for t in tags]).value_counts()
        for tag, count in totals.items():
            if count >= 30:
                assert abs(got.get(tag, 0) - fraction * count) <= 2, (name, tag)


def test_multi_label_with_a_separator(tmp_path):
    tag_sets = _tag_sets(600)
    frame = _frame(600)
    frame["tags"] = ["|".join(tags) for tags in tag_sets]
    path = _write_csv(tmp_path, frame)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        splits = split_manifest(path, val=0.2, test=0.1, stratify="tags", label_separator="|")

    _assert_partition(splits, pd.read_csv(path, dtype=str, keep_default_na=False))
    _assert_tag_shares(
        splits, tag_sets, lambda part: [v.split("|") if v else [] for v in part["tags"]]
    )
    for name, fraction in zip(SPLITS[1:], (0.2, 0.1)):
        assert abs(len(splits[name]) - fraction * 600) <= 3


def test_multi_label_with_binary_columns():
    tag_sets = _tag_sets(600, seed=1)
    frame = _frame(600)
    for tag in "abcdef":
        frame[tag] = [int(tag in tags) for tags in tag_sets]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        splits = split_manifest(frame, val=0.2, test=0.1, stratify=list("abcdef"), seed=3)

    _assert_partition(splits, frame)
    _assert_tag_shares(
        splits,
        tag_sets,
        lambda part: [[t for t in "abcdef" if row[t]] for _, row in part.iterrows()],
    )


def test_multi_label_column_of_lists_and_rows_without_labels():
    tag_sets = _tag_sets(300, seed=2)
    frame = _frame(300)
    frame["tags"] = tag_sets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        splits = split_manifest(frame, val=0.2, test=0.1, stratify="tags", seed=0)

    _assert_partition(splits, frame)
    assert sum(not tags for tags in tag_sets) > 0
    for name, fraction in zip(SPLITS[1:], (0.2, 0.1)):
        assert abs(len(splits[name]) - fraction * 300) <= 3


def test_multi_label_rare_label_is_reported():
    frame = _frame(40)
    frame["tags"] = ["a|b"] * 20 + ["b"] * 19 + ["a|unique"]

    with pytest.warns(SplitWarning, match=r"1 label is missing from a split: 'unique' has 1 row"):
        splits = split_manifest(frame, val=0.25, stratify="tags", label_separator="|")

    _assert_partition(splits, frame)


def test_multi_label_is_at_least_as_balanced_as_a_random_split():
    tag_sets = _tag_sets(400, seed=5)
    frame = _frame(400)
    frame["tags"] = ["|".join(tags) for tags in tag_sets]
    totals = pd.Series([t for tags in tag_sets for t in tags]).value_counts()

    def error(splits):
        got = pd.Series([t for v in splits["val"]["tags"] if v for t in v.split("|")])
        got = got.value_counts()
        return sum(abs(got.get(t, 0) - 0.25 * c) for t, c in totals.items())

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        stratified = [
            error(split_manifest(frame, 0.25, stratify="tags", label_separator="|", seed=s))
            for s in range(5)
        ]
    random_ = [error(split_manifest(frame, 0.25, seed=s)) for s in range(5)]

    assert max(stratified) < min(random_)


# -- properties --------------------------------------------------------------------


fractions = st.tuples(
    st.floats(0, 0.6, allow_nan=False), st.floats(0, 0.6, allow_nan=False)
).filter(lambda f: f[0] + f[1] < 0.99)
seeds = st.integers(0, 2**32 - 1)


@quiet
@PROPERTY
@given(n=st.integers(1, 200), f=fractions, seed=seeds)
def test_property_plain_sizes_exact_partition_reproducible(n, f, seed):
    val, test = f
    frame = _frame(n)

    splits = split_manifest(frame, val=val, test=test, seed=seed)

    _assert_partition(splits, frame)
    assert len(splits["val"]) == round(val * n)
    assert len(splits["test"]) == round(test * n)
    assert _positions(splits) == _positions(split_manifest(frame, val=val, test=test, seed=seed))


@quiet
@PROPERTY
@given(
    data=st.data(),
    n=st.integers(1, 200),
    n_classes=st.integers(1, 12),
    f=fractions,
    seed=seeds,
)
def test_property_stratified_sizes_exact_and_classes_within_one_row(data, n, n_classes, f, seed):
    val, test = f
    labels = data.draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n))
    frame = _frame(n, labels=labels)

    splits = split_manifest(frame, val=val, test=test, stratify="label", seed=seed)

    _assert_partition(splits, frame)
    assert len(splits["val"]) == round(val * n)
    assert len(splits["test"]) == round(test * n)
    got = _class_counts(splits)
    for c, count in pd.Series(labels).value_counts().items():
        for name, fraction in zip(SPLITS, (1 - val - test, val, test)):
            assert abs(got[name].get(c, 0) - fraction * count) <= 1 + 1e-9
    again = split_manifest(frame, val=val, test=test, stratify="label", seed=seed)
    assert _positions(splits) == _positions(again)


@quiet
@PROPERTY
@given(
    sizes=st.lists(st.integers(1, 12), min_size=1, max_size=60),
    f=fractions,
    seed=seeds,
    n_classes=st.integers(0, 4),
)
def test_property_groups_never_cross(sizes, f, seed, n_classes):
    val, test = f
    groups = _groups_of(sizes)
    order = np.random.default_rng(seed).permutation(len(groups))
    labels = None if n_classes == 0 else [f"c{i % n_classes}" for i in order]
    frame = _frame(len(groups), labels=labels, groups=[groups[i] for i in order])
    stratify = None if n_classes == 0 else "label"

    splits = split_manifest(
        frame, val=val, test=test, group="patient", stratify=stratify, seed=seed
    )

    _assert_partition(splits, frame)
    _assert_groups_stay_together(splits)
    if stratify is None:
        n = len(frame)
        for name, fraction in zip(SPLITS[1:], (val, test)):
            assert abs(len(splits[name]) - round(fraction * n)) < max(sizes)
    again = split_manifest(frame, val=val, test=test, group="patient", stratify=stratify, seed=seed)
    assert _positions(splits) == _positions(again)


@quiet
@PROPERTY
@given(
    tag_sets=st.lists(st.sets(st.sampled_from("abcde"), max_size=3), min_size=1, max_size=150),
    f=fractions,
    seed=seeds,
    binary=st.booleans(),
)
def test_property_multi_label_partition_reproducible(tag_sets, f, seed, binary):
    val, test = f
    frame = _frame(len(tag_sets))
    if binary:
        for tag in "abcde":
            frame[tag] = [int(tag in tags) for tags in tag_sets]
        kwargs = {"stratify": list("abcde")}
    else:
        frame["tags"] = ["|".join(sorted(tags)) for tags in tag_sets]
        kwargs = {"stratify": "tags", "label_separator": "|"}

    splits = split_manifest(frame, val=val, test=test, seed=seed, **kwargs)

    _assert_partition(splits, frame)
    if test == 0:
        assert splits["test"].empty
    assert _positions(splits) == _positions(
        split_manifest(frame, val=val, test=test, seed=seed, **kwargs)
    )


# -- bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"val": 1.5}, "Invalid `val`: expected a fraction in [0, 1). Received: val=1.5"),
        ({"val": 1}, "Received: val=1"),
        ({"val": -0.1}, "Received: val=-0.1"),
        ({"val": float("nan")}, "Received: val=nan"),
        ({"val": "0.1"}, "Received: val='0.1'"),
        ({"val": True}, "Received: val=True"),
        ({"test": 1.0}, "Invalid `test`: expected a fraction in [0, 1). Received: test=1.0"),
        ({"val": 0.5, "test": 0.5}, "Invalid `val` and `test`: expected val + test < 1"),
        ({"seed": -1}, "Invalid `seed`: expected an integer >= 0"),
        ({"seed": None}, "Received: seed=None"),
        ({"seed": 1.5}, "Received: seed=1.5"),
        ({"stratify": []}, "Invalid `stratify`: expected a column name or a non-empty list"),
        ({"stratify": ["a", "a"]}, "Invalid `stratify`: columns must be distinct. Repeated: 'a'"),
        ({"stratify": {"a": 1}}, "Invalid `stratify`: expected a column name"),
        ({"group": ["patient"]}, "Invalid `group`: expected the name of one column"),
        ({"label_separator": "|"}, "Invalid `label_separator`: it splits the single `stratify`"),
        ({"stratify": ["a", "b"], "label_separator": "|"}, "Invalid `label_separator`"),
        ({"stratify": "label", "label_separator": ""}, "Invalid `label_separator`: expected a"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_arguments_are_named(kwargs, message, tmp_path):
    # Arguments are checked before the manifest is read: this file does not exist.
    with pytest.raises(ValueError) as info:
        split_manifest(tmp_path / "missing.csv", **kwargs)

    assert message in str(info.value)


@pytest.mark.parametrize("argument", ["stratify", "group"])
def test_missing_column_is_named_with_the_columns(argument, tmp_path):
    path = _write_csv(tmp_path, _frame(5, labels="abcab"))

    with pytest.raises(ManifestError) as from_csv:
        split_manifest(path, **{argument: "lable"})
    with pytest.raises(ManifestError) as from_frame:
        split_manifest(_frame(5, labels="abcab"), **{argument: "lable"})

    expected = [
        Problem(f"no column 'lable' (`{argument}`). Columns: 'id', 'path', 'label'", column="lable")
    ]
    assert from_csv.value.problems == from_frame.value.problems == expected
    assert from_csv.value.source == os.path.abspath(path)
    assert str(from_csv.value).startswith(f"Invalid manifest {os.path.abspath(path)}: 1 problem")


def test_every_missing_column_is_named():
    frame = _frame(4)
    frame["cat"] = [0, 1, 0, 1]

    with pytest.raises(ManifestError) as info:
        split_manifest(frame, stratify=["cat", "dog"], group="room")

    columns = "Columns: 'id', 'path', 'cat'"
    assert info.value.problems == [
        Problem(f"no column 'dog' (`stratify`). {columns}", column="dog"),
        Problem(f"no column 'room' (`group`). {columns}", column="room"),
    ]


def test_empty_labels_are_named_by_line_in_a_csv(tmp_path):
    path = _write_csv(tmp_path, _frame(6, labels=["a", "", "b", "a", " ", "b"]))

    with pytest.raises(ManifestError) as info:
        split_manifest(path, stratify="label")

    assert isinstance(info.value, ValueError)
    assert info.value.problems == [
        Problem("empty label", line="line 3 of train.csv", id="0001", column="label"),
        Problem("empty label", line="line 6 of train.csv", id="0004", column="label"),
    ]
    assert "line 3 of train.csv, id '0001', column 'label': empty label" in str(info.value)


def test_empty_labels_are_named_by_index_label_in_a_dataframe():
    frame = pd.DataFrame(
        {"label": ["a", None, "b", np.nan]}, index=np.array([3, 5, 8, 13], dtype=np.int64)
    )

    with pytest.raises(ManifestError) as info:
        split_manifest(frame, stratify="label")

    assert info.value.problems == [
        Problem("empty label", line="row 5", column="label"),
        Problem("empty label", line="row 13", column="label"),
    ]
    assert "np.int64" not in str(info.value)


def test_many_empty_labels_are_all_kept_and_the_message_counts_them():
    frame = pd.DataFrame({"label": [""] * 25})

    with pytest.raises(ManifestError) as info:
        split_manifest(frame, stratify="label")

    assert [p.line for p in info.value.problems] == [f"row {i}" for i in range(25)]
    assert {p.message for p in info.value.problems} == {"empty label"}
    message = str(info.value)
    assert "25 problems found" in message
    assert "row 9, column 'label'" in message and "row 10," not in message
    assert message.endswith("... and 15 more.")


def test_multi_label_rows_without_labels_are_allowed(tmp_path):
    # An empty cell is a row with no label (the all-zero row), not a problem.
    tags = ["a|b", "", "b", "a", "", "b|c", "c", "a"] * 5
    frame = _frame(len(tags))
    frame["tags"] = tags
    path = _write_csv(tmp_path, frame)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        splits = split_manifest(path, val=0.25, stratify="tags", label_separator="|", seed=1)

    _assert_partition(splits, pd.read_csv(path, dtype=str, keep_default_na=False))
    assert sum(part["tags"].eq("").sum() for part in splits.values()) == 10
    assert abs(len(splits["val"]) - 10) <= 1


def test_bad_binary_cells_are_named():
    frame = pd.DataFrame({"cat": [1, 0, "yes"], "dog": [0, None, 1]}, index=["x", "y", "z"])

    with pytest.raises(ManifestError) as info:
        split_manifest(frame, stratify=["cat", "dog"])

    assert info.value.problems == [
        Problem("expected 0 or 1, got 'yes'", line="row 'z'", column="cat"),
        Problem("empty label", line="row 'y'", column="dog"),
    ]


def test_empty_group_values_are_named(tmp_path):
    path = _write_csv(tmp_path, _frame(4, groups=["p1", "", "p2", "p1"]))

    with pytest.raises(ManifestError) as info:
        split_manifest(path, group="patient")

    assert info.value.problems == [
        Problem("empty group value", line="line 3 of train.csv", id="0001", column="patient")
    ]


def test_label_and_group_problems_are_listed_together(tmp_path):
    frame = _frame(5, labels=["a", "", "b", "a", "b"], groups=["p1", "p1", "p2", "", "p3"])
    path = _write_csv(tmp_path, frame)

    with pytest.raises(ManifestError) as info:
        split_manifest(path, stratify="label", group="patient")

    assert info.value.problems == [
        Problem("empty label", line="line 3 of train.csv", id="0001", column="label"),
        Problem("empty group value", line="line 5 of train.csv", id="0003", column="patient"),
    ]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "the manifest has no rows and no header"),
        ("id,label,path\n", "the manifest has no rows"),
    ],
    ids=["no-header", "header-only"],
)
def test_empty_csv_is_refused(content, message, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text(content)

    with pytest.raises(ManifestError) as info:
        split_manifest(path, stratify="label")

    assert info.value.problems == [Problem(message)]
    assert info.value.source == str(path)
    assert "empty.csv" in str(info.value)


def test_empty_dataframe_is_refused():
    with pytest.raises(ManifestError) as info:
        split_manifest(pd.DataFrame({"label": []}))

    assert info.value.problems == [Problem("the manifest has no rows")]


def test_not_a_manifest_and_missing_file(tmp_path):
    with pytest.raises(TypeError, match="Invalid `manifest`"):
        split_manifest([1, 2, 3])
    with pytest.raises(FileNotFoundError, match=r"nowhere\.csv"):
        split_manifest(tmp_path / "nowhere.csv")


def test_unhashable_values_are_named():
    frame = pd.DataFrame({"id": ["x", "y"], "patient": ["a", {"b": 1}], "label": [{"c": 2}, "d"]})

    with pytest.raises(ManifestError) as info:
        split_manifest(frame, stratify="label", group="patient")

    assert info.value.problems == [
        Problem("expected a label, got a dict: {'c': 2}", line="row 0", id="x", column="label"),
        Problem(
            "expected a group value, got a dict: {'b': 1}", line="row 1", id="y", column="patient"
        ),
    ]

    frame = pd.DataFrame({"tags": [["a"], ["b", {"c": 2}]]})
    with pytest.raises(ManifestError) as info:
        split_manifest(frame, stratify="tags")

    assert info.value.problems == [
        Problem("expected a label, got a dict: {'c': 2}", line="row 1", column="tags")
    ]


# -- other delimiters --------------------------------------------------------------


@quiet
@pytest.mark.parametrize("sep", [";", "\t"], ids=["semicolon", "tab"])
def test_semicolon_and_tab_separated_csvs_split_like_comma_separated_ones(sep, tmp_path):
    rng = np.random.default_rng(0)
    frame = _frame(90, labels=_imbalanced([50, 30, 10]), groups=[f"p{i // 3}" for i in range(90)])
    frame["tags"] = ["|".join(rng.choice(list("abc"), size=rng.integers(0, 3))) for _ in range(90)]
    comma = _write_csv(tmp_path, frame)
    other = os.path.join(tmp_path, "other.csv")
    frame.to_csv(other, index=False, sep=sep)

    for kwargs in (
        {},
        {"stratify": "label"},
        {"group": "patient", "stratify": "label"},
        {"stratify": "tags", "label_separator": "|"},
    ):
        ours = split_manifest(other, val=0.2, test=0.1, seed=3, **kwargs)
        reference = split_manifest(comma, val=0.2, test=0.1, seed=3, **kwargs)
        assert _positions(ours) == _positions(reference)
        for name in SPLITS:
            pd.testing.assert_frame_equal(ours[name], reference[name])
    stratified = split_manifest(other, val=0.2, test=0.1, stratify="label", seed=3)
    got = _class_counts(stratified)
    for j, count in enumerate([50, 30, 10]):
        for name, fraction in zip(SPLITS, (0.7, 0.2, 0.1)):
            assert abs(got[name].get(f"c{j}", 0) - fraction * count) < 1, (name, j)


def test_problems_in_a_semicolon_separated_csv_are_named_by_line(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("id;label\n001;cat\n002;\n003;dog\n004; \n")

    with pytest.raises(ManifestError) as info:
        split_manifest(path, stratify="label")

    assert info.value.problems == [
        Problem("empty label", line="line 3 of train.csv", id="002", column="label"),
        Problem("empty label", line="line 5 of train.csv", id="004", column="label"),
    ]


def test_a_duplicate_id_is_a_problem_naming_both_lines(tmp_path):
    manifest = tmp_path / "dup.csv"
    pd.DataFrame(
        {"id": ["0004", "0005", "0005", "0006"], "label": ["cat", "bird", "cat", "cat"]}
    ).to_csv(manifest, index=False)
    with pytest.raises(ManifestError) as caught:
        split_manifest(manifest, val=0.25)
    (problem,) = caught.value.problems
    assert problem.id == "0005" and problem.column == "id"
    assert "duplicate id, on 2 rows: line 3 of" in problem.message
    assert "line 4 of" in problem.message
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "kdataset"), "split", str(manifest)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "duplicate id, on 2 rows" in result.stderr
    assert not (tmp_path / "train.csv").exists()
