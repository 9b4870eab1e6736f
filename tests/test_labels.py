"""Labels: class order, encoding and decoding, one-hot through `keras.ops`, class weights,
and the label modes of `ManifestDataset` on real files."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.utils.class_weight import compute_class_weight

import kdataset as kd
from tests.conftest import row_of, write_samples


def _numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def _sklearn_weights(labels, classes):
    weights = compute_class_weight("balanced", classes=np.array(classes), y=np.array(labels))
    return dict(enumerate(weights.tolist()))


# -- class order ---------------------------------------------------------------


def test_classes_are_sorted():
    encoder = kd.LabelEncoder().fit(["dog", "cat", "bird", "cat", "dog"])

    assert encoder.classes == ["bird", "cat", "dog"]
    assert encoder.num_classes == 3


def test_numeric_classes_sort_as_numbers():
    encoder = kd.LabelEncoder().fit([10, 2, 1, 2, 10])

    assert encoder.classes == [1, 2, 10]
    assert encoder.encode([2, 10, 1]).tolist() == [1, 2, 0]


def test_numeric_strings_sort_as_numbers_and_stay_strings():
    encoder = kd.LabelEncoder().fit(["10", "2", "1", "2"])

    assert encoder.classes == ["1", "2", "10"]
    assert encoder.encode(["2", "10"]).tolist() == [1, 2]


def test_explicit_classes_keep_their_order():
    encoder = kd.LabelEncoder(classes=["dog", "cat", "bird"]).fit(["cat", "bird", "dog"])

    assert encoder.classes == ["dog", "cat", "bird"]
    assert encoder.encode(["dog", "bird"]).tolist() == [0, 2]
    assert encoder.decode([1, 0]) == ["cat", "dog"]


# -- encode and decode ----------------------------------------------------------


def test_encode_then_decode_gives_the_labels_back():
    labels = ["cat", "dog", "bird", "dog", "cat", "cat"]
    encoder = kd.LabelEncoder().fit(labels)

    encoded = encoder.encode(labels)

    assert encoded.dtype == np.int32
    assert encoded.shape == (6,)
    assert encoder.decode(encoded) == labels


def test_decode_takes_the_argmax_of_one_hot_and_probability_rows():
    encoder = kd.LabelEncoder().fit(["bird", "cat", "dog"])
    one_hot = np.eye(3, dtype="float32")[[2, 0, 1]]
    probabilities = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3], [0.05, 0.15, 0.8]], "float32")

    assert encoder.decode(one_hot) == ["dog", "bird", "cat"]
    assert encoder.decode(probabilities) == ["cat", "bird", "dog"]
    # A tensor of the backend, as `model.predict` or the model itself gives it.
    assert encoder.decode(keras.ops.convert_to_tensor(probabilities)) == ["cat", "bird", "dog"]


def test_multi_label_decode_thresholds_the_scores():
    encoder = kd.LabelEncoder(separator="|").fit(["cat|dog", "bird"])
    scores = np.array([[0.9, 0.5, 0.1], [0.2, 0.3, 0.7], [0.1, 0.2, 0.3]], "float32")

    assert encoder.decode(scores) == [["bird", "cat"], ["dog"], []]
    assert encoder.decode(scores, threshold=0.6) == [["bird"], ["dog"], []]
    assert encoder.decode(scores, threshold=0.1) == [
        ["bird", "cat", "dog"],
        ["bird", "cat", "dog"],
        ["bird", "cat", "dog"],
    ]


def test_encoding_an_unknown_label_names_it():
    encoder = kd.LabelEncoder().fit(["cat", "dog"])

    with pytest.raises(ValueError) as info:
        encoder.encode(["cat", "zebra", "yak", "zebra"])

    message = str(info.value)
    assert "Unknown 2 labels: 'zebra', 'yak'" in message
    assert "Known classes: 'cat', 'dog'" in message


def test_fitting_an_unknown_label_against_given_classes_names_it():
    encoder = kd.LabelEncoder(classes=["cat", "dog"])

    with pytest.raises(ValueError, match="Unknown 1 label: 'emu'"):
        encoder.fit(["cat", "emu"])


def test_an_unknown_label_in_multi_label_data_is_named():
    encoder = kd.LabelEncoder(separator="|").fit(["cat|dog"])

    with pytest.raises(ValueError, match="Unknown 1 label: 'owl'"):
        encoder.encode(["dog|owl"])


# -- multi-label ----------------------------------------------------------------


def test_multi_label_with_a_separator():
    encoder = kd.LabelEncoder(separator="|").fit(["cat|dog", "dog", "bird|cat"])

    encoded = encoder.encode(["cat|dog", "dog", "bird|cat", "dog|bird|cat"])

    assert encoder.classes == ["bird", "cat", "dog"]
    assert encoded.dtype == np.float32
    np.testing.assert_array_equal(encoded, [[0, 1, 1], [0, 0, 1], [1, 1, 0], [1, 1, 1]])
    assert encoder.decode(encoded) == [
        ["cat", "dog"],
        ["dog"],
        ["bird", "cat"],
        ["bird", "cat", "dog"],
    ]


def test_multi_label_with_lists():
    encoder = kd.LabelEncoder(multi_label=True).fit([["cat", "dog"], ["dog"], ["bird"]])

    encoded = encoder.encode([["dog", "cat"], ["bird"]])

    assert encoder.classes == ["bird", "cat", "dog"]
    np.testing.assert_array_equal(encoded, [[0, 1, 1], [1, 0, 0]])


# -- tensors through keras.ops ---------------------------------------------------


def test_one_hot_is_a_backend_tensor_equal_to_keras_one_hot():
    labels = ["dog", "bird", "cat", "dog"]
    encoder = kd.LabelEncoder().fit(labels)

    tensor = encoder.one_hot(labels)

    assert keras.ops.is_tensor(tensor)
    expected = keras.ops.one_hot(np.array([2, 0, 1, 2]), 3)
    np.testing.assert_array_equal(_numpy(tensor), _numpy(expected))
    assert _numpy(tensor).dtype == np.float32
    assert _numpy(tensor).shape == (4, 3)


def test_multi_hot_is_a_backend_tensor_equal_to_keras_multi_hot():
    encoder = kd.LabelEncoder(separator="|").fit(["cat|dog", "bird"])

    tensor = encoder.multi_hot(["cat|dog", "bird", "dog|bird"])

    assert keras.ops.is_tensor(tensor)
    expected = keras.ops.multi_hot(np.array([[1, 2], [0, 0], [2, 0]]), 3)
    np.testing.assert_array_equal(_numpy(tensor), _numpy(expected))
    assert _numpy(tensor).dtype == np.float32


def test_a_row_with_no_labels_multi_hots_to_zeros():
    encoder = kd.LabelEncoder(separator="|").fit(["cat|dog", "bird"])

    rows = _numpy(encoder.multi_hot(["cat", "", "bird|dog"]))
    only_empty = _numpy(encoder.multi_hot([""]))
    from_lists = _numpy(
        kd.LabelEncoder(classes=["a", "b"], multi_label=True).multi_hot([[], ["b"]])
    )

    np.testing.assert_array_equal(rows, [[0, 1, 0], [0, 0, 0], [1, 0, 1]])
    np.testing.assert_array_equal(only_empty, [[0, 0, 0]])
    np.testing.assert_array_equal(from_lists, [[0, 0], [0, 1]])


# -- saving ----------------------------------------------------------------------


def test_save_and_load_keep_the_class_order_in_readable_json(tmp_path):
    encoder = kd.LabelEncoder(classes=["zebra", "ant", "mole"])
    path = tmp_path / "labels.json"

    encoder.save(path)
    loaded = kd.LabelEncoder.load(path)

    assert loaded == encoder
    assert loaded.classes == ["zebra", "ant", "mole"]
    assert loaded.decode([0, 1, 2]) == ["zebra", "ant", "mole"]
    with open(path, encoding="utf-8") as f:
        assert json.load(f)["classes"] == ["zebra", "ant", "mole"]


def test_save_and_load_keep_numeric_classes_and_multi_label(tmp_path):
    numeric = kd.LabelEncoder().fit(np.array([10, 2, 1]))
    multi = kd.LabelEncoder(separator="|").fit(["b|a", "c"])

    numeric.save(tmp_path / "numeric.json")
    multi.save(tmp_path / "multi.json")

    assert kd.LabelEncoder.load(tmp_path / "numeric.json").classes == [1, 2, 10]
    loaded = kd.LabelEncoder.load(tmp_path / "multi.json")
    assert loaded == multi
    np.testing.assert_array_equal(loaded.encode(["a|c"]), [[1, 0, 1]])


# -- class weights ---------------------------------------------------------------


def test_class_weights_equal_scikit_learns_balanced_weights():
    labels = ["a"] * 6 + ["b"] * 3 + ["c"]

    weights = kd.class_weights(labels)

    assert weights == pytest.approx(_sklearn_weights(labels, ["a", "b", "c"]))


def test_class_weights_follow_the_numeric_class_order():
    labels = [10, 2, 2, 2, 1, 10]

    weights = kd.class_weights(labels)

    assert weights == pytest.approx(_sklearn_weights(labels, [1, 2, 10]))


def test_class_weights_follow_given_classes():
    labels = ["a", "a", "a", "b"]

    weights = kd.class_weights(labels, classes=["b", "a"])

    assert weights == pytest.approx(_sklearn_weights(labels, ["b", "a"]))


def test_class_weights_refuse_a_class_with_no_samples():
    with pytest.raises(ValueError, match="no samples: 'c'"):
        kd.class_weights(["a", "b", "a"], classes=["a", "b", "c"])


# -- ManifestDataset label modes ---------------------------------------------------

# `samples` labels row i with ("a", "b", "c")[i % 3].


def _epoch(ds):
    """(rows, targets) of one epoch, the rows recovered from the sample values."""
    rows, targets = [], []
    for x, y in ds:
        rows += row_of(x)
        targets.append(y)
    return rows, np.concatenate(targets)


def test_int_labels_are_int32_indices_paired_with_their_rows(samples):
    ds = kd.ManifestDataset(samples(10), batch_size=4, label_mode="int", seed=1)

    _, y = ds[0]
    rows, targets = _epoch(ds)

    assert y.dtype == np.int32
    assert y.shape == (4,)
    assert ds.classes == ["a", "b", "c"]
    assert sorted(rows) == list(range(10))
    assert targets.tolist() == [r % 3 for r in rows]


def test_categorical_labels_are_float32_one_hot_paired_with_their_rows(samples):
    ds = kd.ManifestDataset(samples(10), batch_size=4, label_mode="categorical", seed=2)

    _, y = ds[0]
    rows, targets = _epoch(ds)

    assert y.dtype == np.float32
    assert y.shape == (4, 3)
    assert sorted(rows) == list(range(10))
    np.testing.assert_array_equal(targets, np.eye(3)[[r % 3 for r in rows]])


def test_binary_labels_are_float32_of_shape_batch_by_one(samples):
    manifest = samples(10, labels=[("no", "yes")[i % 2] for i in range(10)])
    ds = kd.ManifestDataset(manifest, batch_size=4, label_mode="binary", seed=3)

    _, y = ds[0]
    rows, targets = _epoch(ds)

    assert ds.classes == ["no", "yes"]
    assert y.dtype == np.float32
    assert y.shape == (4, 1)
    assert targets.shape == (10, 1)
    assert targets[:, 0].tolist() == [r % 2 for r in rows]


def test_multi_hot_labels_from_one_column_with_a_separator(samples):
    choices = ["cat|dog", "dog", "bird|cat|dog", "bird"]
    labels = [choices[i % 4] for i in range(10)]
    ds = kd.ManifestDataset(
        samples(10, labels=labels),
        batch_size=4,
        label_mode="multi_hot",
        label_separator="|",
        seed=4,
    )
    expected = {
        "cat|dog": [0, 1, 1],
        "dog": [0, 0, 1],
        "bird|cat|dog": [1, 1, 1],
        "bird": [1, 0, 0],
    }

    _, y = ds[0]
    rows, targets = _epoch(ds)

    assert ds.classes == ["bird", "cat", "dog"]
    assert y.dtype == np.float32
    assert y.shape == (4, 3)
    np.testing.assert_array_equal(targets, [expected[labels[r]] for r in rows])


def test_multi_hot_labels_from_a_list_of_zero_one_columns(tmp_path, samples):
    manifest = samples(10)
    frame = pd.read_csv(manifest, dtype=str)
    frame["dog"] = [str(i % 2) for i in range(10)]
    frame["cat"] = [str(int(i % 3 == 0)) for i in range(10)]
    frame.to_csv(manifest, index=False)
    ds = kd.ManifestDataset(
        manifest, batch_size=4, label_column=["dog", "cat"], label_mode="multi_hot", seed=5
    )

    _, y = ds[0]
    rows, targets = _epoch(ds)

    assert ds.classes == ["dog", "cat"]
    assert y.dtype == np.float32
    assert y.shape == (4, 2)
    np.testing.assert_array_equal(targets, [[r % 2, int(r % 3 == 0)] for r in rows])


@pytest.mark.parametrize(
    "no_labels", [{"label_mode": None}, {"label_column": None}], ids=["label_mode", "label_column"]
)
def test_without_labels_batches_are_x_alone(samples, no_labels):
    ds = kd.ManifestDataset(samples(10), batch_size=4, shuffle=False, **no_labels)

    batches = list(ds)

    assert all(isinstance(x, np.ndarray) for x in batches)
    assert [row_of(x) for x in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert ds.classes is None


def test_numeric_labels_give_numerically_sorted_classes(samples):
    numbers = [10, 2, 1, 2, 10, 1, 2, 10]
    ds = kd.ManifestDataset(
        samples(8, labels=[str(n) for n in numbers]), batch_size=3, label_mode="int", seed=6
    )

    rows, targets = _epoch(ds)

    assert ds.classes == [1, 2, 10]
    assert [ds.classes[t] for t in targets] == [numbers[r] for r in rows]


def test_explicit_classes_given_as_text_match_numeric_labels_in_the_csv(samples):
    # The CSV holds text; a user naming its classes as that text ("1", "0") must
    # get them, in that order, not an "unknown label" error.
    manifest = samples(6, labels=["0", "1", "1", "0", "1", "1"])

    ds = kd.ManifestDataset(manifest, batch_size=3, classes=["1", "0"], label_mode="int", seed=0)

    rows, targets = _epoch(ds)
    assert ds.classes == ["1", "0"]
    assert targets.tolist() == [[1, 0, 0, 1, 0, 0][r] for r in rows]


def test_dataset_class_weight_equals_scikit_learns(samples):
    labels = ["a"] * 5 + ["b"] * 2 + ["c"] * 1
    ds = kd.ManifestDataset(samples(8, labels=labels), batch_size=4, seed=7)

    assert ds.class_weight() == pytest.approx(_sklearn_weights(labels, ["a", "b", "c"]))


def test_explicit_classes_order_the_dataset_targets(samples):
    ds = kd.ManifestDataset(
        samples(9), batch_size=4, classes=["c", "a", "b"], label_mode="int", seed=8
    )

    rows, targets = _epoch(ds)

    assert ds.classes == ["c", "a", "b"]
    assert [ds.classes[t] for t in targets] == [("a", "b", "c")[r % 3] for r in rows]


def test_a_multi_label_sample_with_no_label_is_the_all_zero_row(tmp_path):
    manifest = write_samples(tmp_path, 4, labels=["cat|dog", "", "dog", "|"])
    ds = kd.ManifestDataset(
        manifest, batch_size=4, label_mode="multi_hot", label_separator="|", shuffle=False
    )
    _, y = ds[0]
    assert ds.classes == ["cat", "dog"]
    assert y.tolist() == [[1, 1], [0, 0], [0, 1], [0, 0]]
    encoder = kd.LabelEncoder(separator="|").fit(["cat", ""])
    assert encoder.classes == ["cat"] and encoder.encode(["", "cat"]).tolist() == [[0], [1]]
    # A single label stays required.
    with pytest.raises(kd.ManifestError, match=r"line 3 of train\.csv.*empty label"):
        kd.ManifestDataset(manifest, label_mode="categorical")
    with pytest.raises(ValueError, match="every sample needs a label"):
        kd.LabelEncoder().fit(["cat", ""])


def test_all_zero_label_columns_are_a_row_of_zeros(tmp_path):
    manifest = write_samples(tmp_path, 3)
    frame = pd.read_csv(manifest, dtype=str)
    frame["cat"], frame["dog"] = ["1", "0", "0"], ["1", "0", "1"]
    frame.to_csv(manifest, index=False)
    ds = kd.ManifestDataset(
        manifest, batch_size=3, label_column=["cat", "dog"], label_mode="multi_hot", shuffle=False
    )
    assert ds[0][1].tolist() == [[1, 1], [0, 0], [0, 1]]


@pytest.mark.parametrize("mode", ["categorical", "multi_hot"])
def test_label_memory_grows_with_rows_not_rows_times_classes(tmp_path, mode):
    import tracemalloc

    rows, classes = 3000, 30_000
    labels = [f"c{i % classes:05d}" for i in range(rows)]
    manifest = write_samples(tmp_path, rows, shape=(1,), labels=labels)
    known = [f"c{i:05d}" for i in range(classes)]
    separator = {"label_separator": "|"} if mode == "multi_hot" else {}
    tracemalloc.start()
    try:
        ds = kd.ManifestDataset(
            manifest, batch_size=8, label_mode=mode, classes=known, seed=0, **separator
        )
        _, y = ds[0]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert y.shape == (8, classes) and (y.sum(axis=1) == 1).all()
    assert [known[j] for j in y.argmax(axis=1)] == [labels[r] for r in ds.batch_rows(0)]
    # One float32 row per sample and class would be 360 MB; indices are 12 KB.
    assert peak < 40 * 2**20, peak


def test_classes_that_are_not_real_numbers_sort_as_text():
    from kdataset.labels.encoding import sort_classes

    assert sort_classes([3, 1 + 2j]) == [(1 + 2j), 3]  # "(1+2j)" < "3"
    assert sort_classes(["10", 2, "3"]) == [2, "3", "10"]
