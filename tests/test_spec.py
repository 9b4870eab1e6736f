"""DatasetSpec: every argument checked when the spec is made, each refusal naming it."""

import dataclasses
import pathlib

import numpy as np
import pytest

import kdataset as kd
from kdataset.core.spec import DatasetSpec


def _keep(sample, rng):
    return sample


# The whole message: "Invalid `name`: expected ... Received: name=..." (see STYLE.md).
INVALID = [
    ({"batch_size": 0}, "Invalid `batch_size`: expected an integer >= 1. Received: batch_size=0"),
    (
        {"batch_size": True},
        "Invalid `batch_size`: expected an integer >= 1. Received: batch_size=True",
    ),
    (
        {"batch_size": "32"},
        "Invalid `batch_size`: expected an integer >= 1. Received: batch_size='32'",
    ),
    (
        {"workers": -1},
        "Invalid `workers`: expected 'auto' or an integer >= 0. Received: workers=-1",
    ),
    (
        {"workers": 2.0},
        "Invalid `workers`: expected 'auto' or an integer >= 0. Received: workers=2.0",
    ),
    (
        {"workers": "many"},
        "Invalid `workers`: expected 'auto' or an integer >= 0. Received: workers='many'",
    ),
    ({"seed": -1}, "Invalid `seed`: expected an integer >= 0 or None. Received: seed=-1"),
    ({"seed": 1.5}, "Invalid `seed`: expected an integer >= 0 or None. Received: seed=1.5"),
    ({"seed": "7"}, "Invalid `seed`: expected an integer >= 0 or None. Received: seed='7'"),
    (
        {"max_queue_size": -1},
        "Invalid `max_queue_size`: expected an integer >= 0 or None. Received: max_queue_size=-1",
    ),
    (
        {"storage_options": "anon"},
        "Invalid `storage_options`: expected a dict of fsspec options or None. "
        "Received: storage_options of type str",
    ),
    (
        {"shard": (2, 2)},
        "Invalid `shard`: expected a pair `(index, count)` of integers with 0 <= index < count. "
        "Received: shard=(2, 2)",
    ),
    (
        {"shard": 3},
        "Invalid `shard`: expected a pair `(index, count)` of integers with 0 <= index < count. "
        "Received: shard=3",
    ),
    (
        {"on_error": "ignore"},
        "Invalid `on_error`: expected one of {'raise', 'skip'}. Received: on_error='ignore'",
    ),
    (
        {"label_mode": "onehot"},
        "Invalid `label_mode`: expected one of {'int', 'categorical', 'binary', 'multi_hot'} "
        "or None. Received: label_mode='onehot'",
    ),
    (
        {"sampling": "oversample"},
        "Invalid `sampling`: expected one of {None, 'balanced'}. Received: sampling='oversample'",
    ),
    (
        {"sample_weight": 1.0},
        "Invalid `sample_weight`: expected None, 'balanced' or the name of a column of weights. "
        "Received: sample_weight=1.0",
    ),
    ({"cache": True}, "Invalid `cache`: expected a file path or None. Received: cache=True"),
    (
        {"loader": "tiff"},
        "Invalid `loader`: expected 'auto', 'npy', 'image', a kdataset loader or a callable "
        "`fn(path) -> array`. Received: loader='tiff'",
    ),
]


@pytest.mark.parametrize("kwargs,message", INVALID, ids=[repr(k) for k, _ in INVALID])
def test_an_invalid_argument_is_named_with_what_was_expected_and_what_came(kwargs, message):
    with pytest.raises(ValueError) as info:
        DatasetSpec(**kwargs)
    assert type(info.value) is ValueError
    assert str(info.value) == message


@pytest.mark.parametrize("name", ["transform", "batch_transform"])
def test_a_transform_that_is_not_a_function_is_refused(name):
    with pytest.raises(ValueError) as info:
        DatasetSpec(**{name: "flip"})
    message = str(info.value)
    assert message.startswith(f"Invalid `{name}`: expected a function `fn(")
    assert message.endswith(f"Received: {name}='flip'")


# Arguments fine alone that do not go together: the message names them, in backticks.
CLASHES = [
    (
        {"drop_remainder": True, "pad_remainder": True},
        "`drop_remainder=True` and `pad_remainder=True` ask for opposite things",
    ),
    (
        {"label_column": ["cat", "dog"]},
        "A list of `label_column`s holds 0/1 columns, one per class: use "
        "`label_mode='multi_hot'`. Received: label_mode='categorical'",
    ),
    (
        {"label_separator": "|", "label_mode": "int"},
        "`label_separator` splits one column into several labels: use "
        "`label_mode='multi_hot'`. Received: label_mode='int'",
    ),
    (
        {"sampling": "balanced", "label_mode": None},
        "`sampling='balanced'` draws the classes of single-label data equally",
    ),
    (
        {"sampling": "balanced", "label_mode": "multi_hot", "label_separator": "|"},
        "`sampling='balanced'` draws the classes of single-label data equally",
    ),
    (
        {"sampling": "balanced", "shuffle": False},
        "`sampling='balanced'` draws rows at random; `shuffle=False` asks for the manifest's order",
    ),
    (
        {"pad_remainder": True, "label_mode": None},
        "`pad_remainder=True` marks padding with zero sample weights, which need labels",
    ),
    (
        {"pad_remainder": True, "label_column": None},
        "`pad_remainder=True` marks padding with zero sample weights, which need labels",
    ),
    (
        {"sample_weight": "balanced", "label_mode": None},
        "`sample_weight='balanced'` weighs samples by their class",
    ),
    (
        {"inputs": {"x": kd.Numbers(["age"])}, "transform": _keep},
        "`transform` changes each sample's arrays read from files",
    ),
    (
        {"inputs": kd.Files("path"), "path_column": "file"},
        "`inputs` names every input, so 'path_column' cannot be given too",
    ),
    (
        {"outputs": kd.Labels("label"), "label_mode": "int"},
        "`outputs` names every target, so 'label_mode' cannot be given too",
    ),
]


@pytest.mark.parametrize("kwargs,start", CLASHES, ids=[repr(k) for k, _ in CLASHES])
def test_arguments_that_do_not_go_together_are_refused(kwargs, start):
    with pytest.raises(ValueError) as info:
        DatasetSpec(**kwargs)
    assert str(info.value).startswith(start)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"seed": None, "workers": "auto", "shard": "auto", "max_queue_size": None},
        {"seed": 0, "workers": 0, "max_queue_size": 0, "shard": (1, 2)},
        {"drop_remainder": True},
        {"pad_remainder": True},
        {"label_column": ["cat", "dog"], "label_mode": "multi_hot"},
        {"label_separator": "|", "label_mode": "multi_hot"},
        {"label_column": None, "label_mode": None},
        {"sampling": "balanced", "label_mode": "int"},
        {"sample_weight": "balanced"},
        {"sample_weight": "weight"},
        {"storage_options": {"anon": True}},
        {"cache": "cache.npz"},
        {"cache": pathlib.Path("cache.npz")},
        {"transform": _keep, "batch_transform": _keep},
        {"inputs": {"image": kd.Files("path"), "age": kd.Numbers(["age"])}, "transform": _keep},
        {"loader": kd.NpyLoader()},
        {"loader": np.load},
    ],
    ids=repr,
)
def test_the_arguments_a_user_may_give_are_accepted(kwargs):
    DatasetSpec(**kwargs)


def test_the_spec_keeps_its_arguments_as_plain_values():
    spec = DatasetSpec(
        batch_size=np.int64(8), seed=np.int32(4), workers=0, shard=[1, 2], shuffle=1, cache=None
    )
    assert type(spec.batch_size) is int and spec.batch_size == 8
    assert type(spec.seed) is int and spec.seed == 4
    assert spec.workers == 1  # no worker threads: loading happens in the caller's
    assert spec.shard == (1, 2)
    assert spec.shuffle is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.batch_size = 0  # made once, checked once


def test_batches_have_targets_unless_label_column_or_label_mode_is_none():
    assert DatasetSpec().has_labels
    assert DatasetSpec(label_mode="int").has_labels
    assert not DatasetSpec(label_mode=None).has_labels
    assert not DatasetSpec(label_column=None).has_labels
    assert DatasetSpec(outputs=kd.Numbers(["age"])).has_labels  # regression targets


def test_unknown_arguments_are_named_with_the_known_ones():
    with pytest.raises(TypeError) as info:
        DatasetSpec.from_kwargs(batch_size=4, label_colum="y")
    message = str(info.value)
    assert message.startswith("Unknown dataset argument 'label_colum'. Expected any of: ")
    assert "label_column" in message and "batch_size" in message
    with pytest.raises(TypeError, match=r"^Unknown dataset arguments 'shufle', 'sed'\. "):
        DatasetSpec.from_kwargs(shufle=False, sed=1)
    assert DatasetSpec.from_kwargs(batch_size=4, seed=1) == DatasetSpec(batch_size=4, seed=1)


@pytest.mark.parametrize("make", [kd.ManifestDataset, kd.validate_manifest])
def test_a_bad_argument_is_reported_before_the_manifest_is_read(tmp_path, make):
    missing = tmp_path / "no such manifest.csv"
    with pytest.raises(ValueError, match=r"^Invalid `batch_size`: expected an integer >= 1"):
        make(missing, batch_size=0)
