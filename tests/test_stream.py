"""The stream: epochs as a custom loop, `fit` and Keras's own epoch iterator drive them."""

import pickle

import pytest
from keras.src.trainers.epoch_iterator import EpochIterator

import kdataset as kd
from kdataset.core.stream import Stream
from tests.conftest import row_of


def _epoch_by_index(ds):
    return [r for i in range(len(ds)) for r in row_of(ds[i][0])]


def test_a_custom_loop_reshuffles_each_epoch_as_fit_does(samples):
    # The recipe's own loop: ds[0] ... ds[len(ds) - 1], then on_epoch_end().
    manifest = samples(20)
    runs = []
    for _ in range(2):
        ds = kd.ManifestDataset(manifest, batch_size=6, seed=3)
        epochs = []
        for _ in range(3):
            epochs.append(_epoch_by_index(ds))
            ds.on_epoch_end()
        runs.append(epochs)
    assert runs[0] == runs[1]  # the same seed, the same sequence of epoch orders
    assert runs[0] == [kd.epoch_order(20, 3, e).tolist() for e in range(3)]
    assert len({tuple(e) for e in runs[0]}) == 3
    assert ds.epoch == 3 and ds.position == 0


def test_on_epoch_end_without_reading_moves_nothing(samples):
    ds = kd.ManifestDataset(samples(10), batch_size=4, seed=1)
    ds.on_epoch_end()  # as the recipe's __init__ did
    assert ds.epoch == 0
    assert _epoch_by_index(ds) == kd.epoch_order(10, 1, 0).tolist()


def _keras_epoch(iterator):
    return [r for _, _, data in iterator for batch in data for r in row_of(batch[0])]


def test_keras_epoch_iterator_drives_the_stream(samples):
    # Keras's own EpochIterator, as fit uses it on every backend. If Keras
    # changes how it begins, abandons (reset) or ends epochs, this fails.
    ds = kd.ManifestDataset(samples(22), batch_size=5, seed=9)
    iterator = EpochIterator(ds)
    for _, _, data in iterator:  # JAX and torch read a batch to build the model ...
        assert len(data[0][0]) == 5
        break
    iterator.reset()  # ... and abandon that epoch: the batch is served again
    assert (ds.epoch, ds.position) == (0, 0)
    first = _keras_epoch(iterator)
    second = _keras_epoch(iterator)
    assert first == kd.epoch_order(22, 9, 0).tolist()
    assert second == kd.epoch_order(22, 9, 1).tolist()
    assert (ds.epoch, ds.position) == (2, 0)


def test_keras_reads_before_the_first_epoch_do_not_move_it(samples):
    # TensorFlow reads batches 0 and 1 by index to learn the output signature,
    # then resets; neither uses up an epoch.
    ds = kd.ManifestDataset(samples(10), batch_size=5, seed=2)
    iterator = EpochIterator(ds)
    ds[0], ds[1]
    iterator.reset()
    assert ds.epoch == 0
    assert _keras_epoch(iterator) == kd.epoch_order(10, 2, 0).tolist()


def test_a_subclass_ending_epochs_through_super_is_still_seen_as_keras(samples):
    ended = []

    class Counting(kd.ManifestDataset):
        def on_epoch_end(self):
            ended.append(self.epoch)
            super().on_epoch_end()

    ds = Counting(samples(10), batch_size=5, seed=2)
    iterator = EpochIterator(ds)
    for _ in iterator:
        break
    iterator.reset()
    assert _keras_epoch(iterator) == kd.epoch_order(10, 2, 0).tolist()
    assert ended == [0, 1]


def test_stream_walks_epochs_and_resumes():
    stream = Stream(7, batch_size=3, seed=4)
    keys = [stream.next() for _ in range(5)]
    assert keys == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    assert stream.upcoming(3) == [(1, 2), (2, 0), (2, 1)]
    state = stream.get_state()
    assert pickle.loads(pickle.dumps(state)) == state
    again = Stream(7, batch_size=3, seed=99)
    again.set_state(state)
    assert again.seed == 4 and again.next() == (1, 2)
    assert again.rows(1, 2).tolist() == stream.rows(1, 2).tolist()
    with pytest.raises(ValueError, match="`batch_size`"):
        Stream(7, batch_size=2, seed=4).set_state(state)
    with pytest.raises(IndexError, match=r"expected 0 <= index < 3\. Received: index=3"):
        stream.check_index(3)


def _rows_of_loop(ds, batches=None):
    rows = []
    for count, (x, _) in enumerate(ds, 1):
        rows += row_of(x)
        if count == batches:
            break
    return rows


def test_for_after_set_state_serves_the_rest_of_the_epoch_then_whole_epochs(samples):
    # 50 rows, 8 a batch: three batches of a `for`, then the state; a fresh dataset
    # resumed from it serves the 26 rows left of epoch 0, each once, then whole epochs.
    manifest = samples(50)
    ds = kd.ManifestDataset(manifest, batch_size=8, seed=3)
    seen = _rows_of_loop(ds, batches=3)
    state = ds.get_state()
    resumed = kd.ManifestDataset(manifest, batch_size=8, seed=3)
    resumed.set_state(state)
    rest = _rows_of_loop(resumed)
    order = kd.epoch_order(50, 3, 0).tolist()
    assert seen == order[:24] and rest == order[24:]
    assert (resumed.epoch, resumed.position) == (1, 0)
    assert _rows_of_loop(resumed) == kd.epoch_order(50, 3, 1).tolist()


def test_a_loop_left_with_break_goes_on_where_it_stopped(samples):
    ds = kd.ManifestDataset(samples(20), batch_size=6, seed=1)
    first = _rows_of_loop(ds, batches=1)
    assert first + _rows_of_loop(ds) == kd.epoch_order(20, 1, 0).tolist()
    assert _rows_of_loop(ds) == kd.epoch_order(20, 1, 1).tolist()


def test_an_iteration_left_unfinished_at_exit_ends_quietly(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import write_samples

    manifest = write_samples(tmp_path, 12)
    script = (
        "import kdataset as kd\n"
        f"ds = kd.ManifestDataset({manifest!r}, batch_size=4)\n"
        "it = iter(ds)\n"
        "next(it)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=root
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Exception ignored" not in result.stderr and "Error" not in result.stderr, result.stderr[
        -2000:
    ]
