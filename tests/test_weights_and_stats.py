"""Sample weights, class weights in datasets, and label statistics."""

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.utils.class_weight import compute_sample_weight

import kdataset as kd
from kdataset.errors import Problem
from tests.conftest import row_of, write_samples


def test_single_label_sample_weights_match_scikit_learn():
    labels = ["a"] * 7 + ["b"] * 2 + ["c"]
    np.testing.assert_allclose(
        kd.sample_weights(labels), compute_sample_weight("balanced", labels), rtol=1e-6
    )


def test_multi_label_sample_weights_average_the_class_weights():
    hot = np.array([[1, 0], [1, 1], [1, 0], [0, 0]])
    # a in 3 rows, b in 1: balanced weights 4 / (2 * 3) and 4 / (2 * 1).
    expected = [2 / 3, (2 / 3 + 2) / 2, 2 / 3, 1.0]
    np.testing.assert_allclose(kd.sample_weights(hot), expected, rtol=1e-6)
    encoder = kd.LabelEncoder(separator="|")
    np.testing.assert_allclose(
        kd.sample_weights(["a", "a|b", "a", ""], classes=encoder), expected, rtol=1e-6
    )


def test_balanced_sample_weights_reach_fit_for_multi_hot_labels(tmp_path):
    manifest = write_samples(tmp_path, 12, labels=["x|y", "x", "x", "z"] * 3)
    ds = kd.ManifestDataset(
        manifest,
        batch_size=4,
        label_mode="multi_hot",
        label_separator="|",
        sample_weight="balanced",
        seed=0,
    )
    x, y, w = ds[0]
    assert y.shape == (4, 3)
    assert w.dtype == np.float32 and w.shape == (4,)
    expected = kd.sample_weights(["x|y", "x", "x", "z"], classes=ds.label_encoder)
    assert w.tolist() == [expected[r % 4] for r in row_of(x)]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy")
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_sample_weight_column(tmp_path):
    manifest = write_samples(tmp_path, 6)
    frame = pd.read_csv(manifest, dtype=str)
    frame["weight"] = [str(i / 2) for i in range(6)]
    frame.to_csv(manifest, index=False)
    ds = kd.ManifestDataset(manifest, batch_size=6, sample_weight="weight", shuffle=False)
    assert ds[0][2].tolist() == [i / 2 for i in range(6)]
    with pytest.raises(ValueError, match="Invalid `sample_weight`"):
        kd.ManifestDataset(manifest, sample_weight=3)


def test_class_weight_refuses_multi_hot_labels(tmp_path):
    ds = kd.ManifestDataset(
        write_samples(tmp_path, 4, labels=["a|b", "a", "b", "a"]),
        label_mode="multi_hot",
        label_separator="|",
    )
    with pytest.raises(ValueError, match="argmaxes"):
        ds.class_weight()


def test_label_stats_counts_and_imbalance(tmp_path):
    manifest = write_samples(tmp_path, 10, labels=[2] * 6 + [10] * 3 + [1])
    stats = kd.label_stats(manifest)
    assert stats.table["samples"].to_dict() == {1: 1, 2: 6, 10: 3}
    assert stats.imbalance_ratio == 6.0
    assert stats.rows == {"samples": 10}
    assert "imbalance ratio 6.00" in stats.summary()
    reference = pd.read_csv(manifest)["label"].value_counts().sort_index()
    assert stats.table["samples"].tolist() == reference.tolist()


def test_label_stats_per_split_and_multi_label():
    splits = {
        "train": pd.DataFrame({"label": ["cat|dog", "dog", "dog"]}),
        "val": pd.DataFrame({"label": ["cat", "bird"]}),
    }
    stats = kd.label_stats(splits, label_separator="|")
    assert stats.table.to_dict() == {
        "train": {"bird": 0, "cat": 1, "dog": 3},
        "val": {"bird": 1, "cat": 1, "dog": 0},
        "total": {"bird": 1, "cat": 2, "dog": 3},
    }
    assert stats.rows == {"train": 3, "val": 2}


def test_label_stats_names_an_empty_label(tmp_path):
    manifest = write_samples(tmp_path, 4, labels=["a", "", "b", " "])
    with pytest.raises(kd.ManifestError, match=r"line 3 of train\.csv.*empty label") as info:
        kd.label_stats(manifest)
    assert info.value.problems == [
        Problem("empty label", line="line 3 of train.csv", id="0001", column="label"),
        Problem("empty label", line="line 5 of train.csv", id="0003", column="label"),
    ]


def test_label_stats_refuses_a_manifest_without_rows_unless_other_splits_have_some():
    empty = pd.DataFrame({"label": []})
    with pytest.raises(kd.ManifestError) as info:
        kd.label_stats(empty)
    assert info.value.problems == [Problem("the manifest has no rows")]
    with pytest.raises(kd.ManifestError):
        kd.label_stats({"train": empty, "val": empty})
    stats = kd.label_stats({"train": pd.DataFrame({"label": ["a", "b"]}), "test": empty})
    assert stats.table.to_dict() == {
        "train": {"a": 1, "b": 1},
        "test": {"a": 0, "b": 0},
        "total": {"a": 1, "b": 1},
    }


@pytest.mark.parametrize("sep", [";", "\t"], ids=["semicolon", "tab"])
def test_label_stats_reads_semicolon_and_tab_separated_csvs(sep, tmp_path):
    frame = pd.DataFrame(
        {"id": [f"{i:03d}" for i in range(7)], "label": ["b", "a", "b", "c", "b", "a", "10"]}
    )
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False, sep=sep)

    stats = kd.label_stats(path)

    assert stats.table["samples"].to_dict() == {"10": 1, "a": 2, "b": 3, "c": 1}
    assert stats.rows == {"samples": 7}
    path.write_text(path.read_text().replace(f"004{sep}b", f"004{sep}"))
    with pytest.raises(kd.ManifestError) as info:
        kd.label_stats(path)
    assert info.value.problems == [
        Problem("empty label", line="line 6 of train.csv", id="004", column="label")
    ]


def test_label_stats_counts_an_empty_multi_label_cell_under_no_class(tmp_path):
    frame = pd.DataFrame({"id": list("uvwxy"), "tags": ["a|b", "", "b", " ", "a"]})
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)

    stats = kd.label_stats(path, label_column="tags", label_separator="|")

    assert stats.table["samples"].to_dict() == {"a": 2, "b": 2}
    assert stats.rows == {"samples": 5}
    # The same rows, split: the rows without labels are counted in their split.
    splits = kd.split_manifest(path, val=0.4, stratify="tags", label_separator="|", seed=0)
    per_split = kd.label_stats(splits, label_column="tags", label_separator="|")
    assert per_split.table["total"].to_dict() == {"a": 2, "b": 2}
    assert per_split.rows == {name: len(part) for name, part in splits.items()}
    assert per_split.rows["test"] == 0 and sum(per_split.rows.values()) == 5
    with_nan = pd.DataFrame({"tags": ["a|b", None, np.nan, "b"]})
    counted = kd.label_stats(with_nan, label_column="tags", label_separator="|")
    assert counted.table["samples"].to_dict() == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    "labels",
    [["dog", "cat", "bird", "cat"], [10, 2, 1, 2, 10], ["b", "a", "B", "_", "a"]],
    ids=["text", "numbers", "mixed-case"],
)
def test_the_encoder_matches_scikit_learns(labels):
    from sklearn.preprocessing import LabelEncoder as Reference

    reference = Reference().fit(labels)
    ours = kd.LabelEncoder().fit(labels)
    assert ours.classes == reference.classes_.tolist()
    assert ours.encode(labels).tolist() == reference.transform(labels).tolist()
    assert (
        ours.decode(ours.encode(labels))
        == reference.inverse_transform(reference.transform(labels)).tolist()
    )


def test_the_multi_label_encoder_matches_scikit_learns():
    from sklearn.preprocessing import MultiLabelBinarizer

    rows = [["cat", "dog"], ["dog"], [], ["bird", "cat"]]
    reference = MultiLabelBinarizer().fit(rows)
    ours = kd.LabelEncoder(multi_label=True).fit([r for r in rows if r])
    assert ours.classes == reference.classes_.tolist()
    np.testing.assert_array_equal(ours.encode(rows), reference.transform(rows))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(ours.multi_hot(rows)), reference.transform(rows)
    )


def test_label_stats_names_a_duplicate_id_with_both_lines(tmp_path):
    manifest = tmp_path / "dup.csv"
    pd.DataFrame({"id": ["0005", "0006", "0005"], "label": ["bird", "cat", "cat"]}).to_csv(
        manifest, index=False
    )
    with pytest.raises(kd.ManifestError) as caught:
        kd.label_stats(manifest)
    (problem,) = caught.value.problems
    assert problem.id == "0005"
    assert "duplicate id, on 2 rows: line 2 of" in problem.message
    assert "line 4 of" in problem.message


def test_label_stats_summary_of_one_class_names_it_once():
    summary = kd.label_stats(pd.DataFrame({"label": ["bird"] * 20})).summary()
    assert (
        summary == "20 rows (samples 20), 1 class, 'bird' with 20 samples: no imbalance to measure"
    )


def test_class_weights_name_the_classes_with_no_samples():
    encoder = kd.LabelEncoder(classes=["cat", "dog", "owl"])
    with pytest.raises(ValueError, match=r"Cannot weigh 2 classes with no samples: 'dog', 'owl'"):
        kd.class_weights(["cat", "cat"], classes=encoder)
