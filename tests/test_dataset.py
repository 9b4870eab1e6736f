"""ManifestDataset: reading, batching, order and parallel loading."""

import os
import threading

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kdataset as kd
from tests.conftest import row_of, write_samples
from tests.spy import PROCESSES, HeldNpyLoader


def all_rows(ds):
    return [r for i in range(len(ds)) for r in row_of(ds[i][0] if ds.label_mode else ds[i])]


def test_three_lines_to_batches(samples):
    ds = kd.ManifestDataset(samples(10), batch_size=4, seed=7)
    x, y = ds[0]
    assert x.shape == (4, 4) and x.dtype == np.float32
    assert y.shape == (4, 3) and y.dtype == np.float32
    assert ds.classes == ["a", "b", "c"]
    assert ds.num_samples == 10 and len(ds) == 3


def test_ids_stay_text(tmp_path):
    manifest = write_samples(tmp_path, 3, ids=["007", "010", "1e3"])
    ds = kd.ManifestDataset(manifest, batch_size=3, path_template="data/{id}.npy")
    assert ds.ids == ["007", "010", "1e3"]
    assert sorted(all_rows(ds)) == [0, 1, 2]


def test_path_template_from_several_columns(tmp_path):
    os.makedirs(tmp_path / "s01")
    np.save(tmp_path / "s01" / "007.npy", np.zeros(2, "float32"))
    np.save(tmp_path / "s01" / "008.npy", np.ones(2, "float32"))
    pd.DataFrame({"id": ["007", "008"], "subject": ["s01", "s01"], "label": [1, 2]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    ds = kd.ManifestDataset(
        tmp_path / "m.csv", batch_size=2, path_template="{subject}/{id}.npy", shuffle=False
    )
    x, y = ds[0]
    assert x.tolist() == [[0, 0], [1, 1]]
    assert ds.classes == [1, 2]
    assert y.tolist() == [[1, 0], [0, 1]]


def test_relative_paths_resolve_against_the_manifest_folder(samples, monkeypatch, tmp_path):
    manifest = samples(4)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    ds = kd.ManifestDataset(manifest, batch_size=4, shuffle=False)
    assert row_of(ds[0][0]) == [0, 1, 2, 3]


def test_dataframe_paths_resolve_against_root_dir(samples, tmp_path, monkeypatch):
    frame = pd.read_csv(samples(4), dtype=str)
    monkeypatch.chdir(tmp_path)
    ds = kd.ManifestDataset(frame, batch_size=2, shuffle=False)
    assert row_of(ds[1][0]) == [2, 3]
    monkeypatch.chdir("/")
    ds = kd.ManifestDataset(frame, batch_size=2, shuffle=False, root_dir=tmp_path)
    assert row_of(ds[0][0]) == [0, 1]


def test_absolute_path_column(samples, tmp_path):
    frame = pd.read_csv(samples(3), dtype=str)
    frame["file"] = [str(tmp_path / p) for p in frame["path"]]
    ds = kd.ManifestDataset(frame.drop(columns="path"), batch_size=3, path_column="file")
    assert sorted(all_rows(ds)) == [0, 1, 2]


@pytest.mark.parametrize(
    "n,batch_size,drop,expected",
    [(10, 4, False, [4, 4, 2]), (10, 4, True, [4, 4]), (8, 4, False, [4, 4])],
)
def test_last_partial_batch_is_kept_unless_dropped(samples, n, batch_size, drop, expected):
    ds = kd.ManifestDataset(samples(n), batch_size=batch_size, drop_remainder=drop, seed=1)
    assert [len(ds[i][0]) for i in range(len(ds))] == expected


def test_unshuffled_order_is_the_manifest_order(samples):
    ds = kd.ManifestDataset(samples(7), batch_size=3, shuffle=False)
    assert all_rows(ds) == list(range(7))


def test_same_seed_same_order_and_epochs_differ(samples):
    manifest = samples(50)
    a = kd.ManifestDataset(manifest, batch_size=8, seed=3)
    b = kd.ManifestDataset(manifest, batch_size=8, seed=3)
    c = kd.ManifestDataset(manifest, batch_size=8, seed=4)
    assert all_rows(a) == all_rows(b)
    assert all_rows(a) != all_rows(c)
    first = all_rows(a)
    assert [r for x, _ in a for r in row_of(x)] == first  # iterating serves one epoch
    assert a.epoch == 1
    assert sorted(all_rows(a)) == list(range(50))
    assert all_rows(a) != first
    b.set_epoch(1)
    assert all_rows(a) == all_rows(b)


def test_inside_an_epoch_batches_come_in_the_datasets_order(samples):
    ds = kd.ManifestDataset(samples(20), batch_size=5, seed=0)
    before = [row_of(ds[i][0]) for i in range(4)]
    ds.on_epoch_begin()  # an epoch as fit drives it, in the order fit asks for batches
    served = [row_of(ds[i][0]) for i in [3, 0, 2, 1]]
    ds.on_epoch_end()
    assert served == before
    assert ds.epoch == 1 and ds.position == 0
    assert all_rows(ds) != [r for batch in before for r in batch]


def test_indexing_is_deterministic_within_an_epoch(samples):
    ds = kd.ManifestDataset(samples(30), batch_size=4, seed=11)
    order = kd.epoch_order(30, 11, 0).tolist()
    batches = [order[i : i + 4] for i in range(0, 30, 4)]
    assert [row_of(ds[i][0]) for i in range(len(ds))] == batches
    again = [3, 7, 0, 3, 5, 1, 6, 2, 4]  # read again in another order, one of them twice
    assert [row_of(ds[i][0]) for i in again] == [batches[i] for i in again]
    assert ds.epoch == 0


def test_labels_stay_paired_with_their_rows(samples):
    ds = kd.ManifestDataset(samples(25), batch_size=6, seed=5, label_mode="int")
    for i in range(len(ds)):
        x, y = ds[i]
        assert [r % 3 for r in row_of(x)] == y.tolist()


def test_seed_none_draws_one_and_python_random_seed_reproduces_it(samples):
    import random

    manifest = samples(20)
    random.seed(123)
    a = kd.ManifestDataset(manifest, batch_size=4)
    random.seed(123)
    b = kd.ManifestDataset(manifest, batch_size=4)
    assert a.seed == b.seed and all_rows(a) == all_rows(b)


def test_iterating_gives_one_epoch(samples):
    ds = kd.ManifestDataset(samples(9), batch_size=4, seed=2)
    assert sorted(r for x, _ in ds for r in row_of(x)) == list(range(9))


def test_batch_index_errors_are_clear(samples):
    ds = kd.ManifestDataset(samples(9), batch_size=4)
    with pytest.raises(IndexError, match=r"expected 0 <= index < 3\. Received: index=3"):
        ds[3]
    with pytest.raises(IndexError, match=r"expected 0 <= index < 3\. Received: index=-1"):
        ds[-1]  # refused, not counted from the end
    with pytest.raises(TypeError, match="Batch indices are integers"):
        ds["1"]


def test_prediction_batches_carry_x_only(samples):
    ds = kd.ManifestDataset(samples(5), batch_size=5, label_column=None, shuffle=False)
    x = ds[0]
    assert isinstance(x, np.ndarray) and row_of(x) == [0, 1, 2, 3, 4]
    assert ds.classes is None


def test_keras_sees_one_worker_and_the_dataset_loads_in_parallel(samples):
    ds = kd.ManifestDataset(samples(12), batch_size=12, workers=3)
    assert ds.workers == 1 and not ds.use_multiprocessing
    assert ds.num_workers == 3


def test_auto_workers_are_a_thread_per_core_for_loaders_outside_the_gil(samples, monkeypatch):
    from kdataset.loading import parallel as dataset

    monkeypatch.setattr(dataset, "usable_cores", lambda: 16)
    manifest = samples(4)
    npy = kd.ManifestDataset(manifest, batch_size=2)
    assert npy.num_workers == (dataset.MAX_AUTO_WORKERS if npy.loader.releases_gil else 1)
    assert kd.ManifestDataset(manifest, loader=np.load).num_workers == 1  # held GIL: one thread
    freed = kd.FunctionLoader(np.load, releases_gil=True)
    assert kd.ManifestDataset(manifest, loader=freed).num_workers == dataset.MAX_AUTO_WORKERS
    monkeypatch.setattr(dataset, "usable_cores", lambda: 2)
    assert kd.ManifestDataset(manifest, loader=freed).num_workers == 2
    assert kd.ManifestDataset(manifest, loader=np.load, workers=3).num_workers == 3
    with pytest.raises(ValueError, match=r"Invalid `workers`: expected 'auto' or an integer >= 0"):
        kd.ManifestDataset(manifest, workers="many")


def test_loaders_outside_the_gil_load_in_threads_even_when_processes_are_asked(samples):
    manifest = samples(6)
    settings = {"batch_size": 3, "shuffle": False, "workers": 2, "use_multiprocessing": True}
    npy = kd.ManifestDataset(manifest, **settings)
    assert npy.use_processes is not npy.loader.releases_gil  # threads where the C reader is
    held = kd.ManifestDataset(manifest, loader=HeldNpyLoader(), **settings)
    assert held.use_processes and held.num_workers == 2
    assert row_of(npy[0][0]) == row_of(held[0][0]) == [0, 1, 2]
    held.close()


def test_threads_share_the_loading_of_a_batch(samples):
    threads = set()
    barrier = threading.Barrier(2, timeout=10)
    armed = []

    def load(path):
        if armed and threading.get_ident() not in threads:
            threads.add(threading.get_ident())
            barrier.wait()  # returns only once two loads run at the same time
        return kd.NpyLoader()(path)  # np.load is not thread-safe before Python 3.11.9

    ds = kd.ManifestDataset(samples(8), batch_size=8, loader=load, workers=2, shuffle=False)
    armed.append(True)
    assert row_of(ds[0][0]) == list(range(8))
    assert len(threads) == 2


class _MeetingLoader:
    """Returns `[value, pid]`; in a worker, first waits until another worker loads too."""

    def __init__(self, barrier, parent):
        self.barrier, self.parent, self.met = barrier, parent, False

    def __call__(self, path):
        if os.getpid() != self.parent and not self.met:
            self.barrier.wait(timeout=60)  # returns only once two processes load at once
            self.met = True
        return np.array([np.load(path)[0], os.getpid()], dtype=np.float64)


def test_processes_share_the_loading_of_a_batch(samples):
    import multiprocessing

    with multiprocessing.get_context("spawn").Manager() as manager:
        loader = _MeetingLoader(manager.Barrier(2), os.getpid())
        ds = kd.ManifestDataset(
            samples(16),
            batch_size=16,
            loader=loader,
            workers=2,
            use_multiprocessing=True,
            shuffle=False,
        )
        try:
            x, y = ds[0]
        finally:
            ds.close()
    assert x[:, 0].astype(int).tolist() == list(range(16))
    pids = set(x[:, 1].astype(int).tolist())
    assert os.getpid() not in pids and len(pids) == 2
    assert y.argmax(axis=1).tolist() == [i % 3 for i in range(16)]


def test_dataset_pickles_without_its_workers(samples):
    import pickle

    ds = kd.ManifestDataset(samples(6), batch_size=3, workers=2, seed=9)
    ds[0]
    clone = pickle.loads(pickle.dumps(ds))
    assert all_rows(clone) == all_rows(ds)
    assert clone.classes == ds.classes


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(1, 40),
    batch_size=st.integers(1, 12),
    seed=st.integers(0, 2**31 - 1),
    epoch=st.integers(0, 5),
    drop=st.booleans(),
    workers=st.integers(1, 3),
)
def test_every_row_once_per_epoch(tmp_path_factory, n, batch_size, seed, epoch, drop, workers):
    folder = tmp_path_factory.mktemp("p")
    if drop and n < batch_size:
        with pytest.raises(ValueError, match="leaves no batch"):
            kd.ManifestDataset(write_samples(folder, n), batch_size=batch_size, drop_remainder=True)
        return
    ds = kd.ManifestDataset(
        write_samples(folder, n),
        batch_size=batch_size,
        seed=seed,
        drop_remainder=drop,
        workers=workers,
    )
    ds.set_epoch(epoch)
    rows = all_rows(ds)
    assert len(rows) == len(set(rows))
    expected = (n // batch_size) * batch_size if drop else n
    assert len(rows) == expected
    ds.close()


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 300), seed=st.integers(0, 2**31 - 1), epoch=st.integers(0, 100))
def test_epoch_order_is_a_pure_permutation(n, seed, epoch):
    a = kd.epoch_order(n, seed, epoch)
    assert sorted(a.tolist()) == list(range(n))
    assert a.tolist() == kd.epoch_order(n, seed, epoch).tolist()


class _DyingLoader:
    """Kills its worker process on one file; loads the others."""

    def __init__(self, fatal, parent):
        self.fatal, self.parent = fatal, parent

    def __call__(self, path):
        if os.path.basename(path) == self.fatal and os.getpid() != self.parent:
            os._exit(3)
        return np.load(path)


def test_a_worker_process_that_dies_is_an_error_and_loading_recovers(samples):
    ds = kd.ManifestDataset(
        samples(12),
        batch_size=6,
        loader=_DyingLoader("0008.npy", os.getpid()),
        workers=2,
        use_multiprocessing=True,
        shuffle=False,
    )
    try:
        assert row_of(ds[0][0]) == [0, 1, 2, 3, 4, 5]
        with pytest.raises(kd.SampleError, match="process died") as info:
            ds[1]
        assert "line" in str(info.value) and info.value.path.endswith(".npy")
        assert row_of(ds[0][0]) == [0, 1, 2, 3, 4, 5]  # a new pool takes over
    finally:
        ds.close()


def test_processes_leave_no_shared_buffers_behind(samples):
    before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    ds = kd.ManifestDataset(samples(10), batch_size=5, **PROCESSES)
    assert ds.use_processes
    assert sorted(r for x, _ in ds for r in row_of(x)) == list(range(10))
    ds.close()
    after = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    assert not {n for n in after - before if n.startswith("kdataset-")}
