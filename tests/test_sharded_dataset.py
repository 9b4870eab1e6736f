"""Sharded datasets: every host the same batches of one shape, every row once across hosts."""

import numpy as np
import pytest

import kdataset as kd
from tests.conftest import row_of, write_samples


def _hosts(manifest, count, **kwargs):
    return [
        kd.ManifestDataset(
            manifest, batch_size=4, label_mode="int", seed=3, shard=(i, count), **kwargs
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("count", [1, 2, 3])
def test_hosts_serve_every_row_once_in_batches_of_one_shape(tmp_path, count):
    n = 23
    ids = [f"{i:04d}" for i in range(n)]
    manifest = write_samples(tmp_path, n, labels=[str(i) for i in range(n)], ids=ids)
    hosts = _hosts(manifest, count)
    assert len({len(ds) for ds in hosts}) == 1
    seen = []
    for ds in hosts:
        for batch in ds:
            if count == 1:
                x, y = batch
                w = np.ones(len(x))
            else:
                x, y, w = batch
                assert x.shape == (4, 4) and y.shape == (4,) and w.shape == (4,)
            real = w > 0
            rows = [r for r, keep in zip(row_of(x), real) if keep]
            assert [int(ds.classes[c]) for c in y[real]] == rows  # each label with its sample
            seen += rows
    assert sorted(seen) == list(range(n))
    texts = [ds.served_digest(0) for ds in hosts]
    combined = kd.IdDigest.combine([kd.IdDigest.parse(t) for t in texts])
    assert str(combined) == hosts[0].epoch_digest(0) == str(kd.IdDigest.of(ids))


def test_a_host_that_served_a_row_twice_or_missed_one_shows_in_the_digest(tmp_path):
    manifest = write_samples(tmp_path, 20)
    a, b = _hosts(manifest, 2)
    for _ in a:
        pass
    b[0]  # host b served one batch of its three
    b.on_epoch_end()
    combined = kd.IdDigest.parse(a.served_digest(0)) + kd.IdDigest.parse(b.served_digest(0))
    assert str(combined) != a.epoch_digest(0)


def test_dropping_evenly_and_sharding_without_labels(tmp_path):
    manifest = write_samples(tmp_path, 23)
    with pytest.raises(ValueError, match="Pass `drop_remainder=True`"):
        kd.ManifestDataset(manifest, batch_size=4, label_mode=None, shard=(0, 2))
    hosts = [
        kd.ManifestDataset(
            manifest, batch_size=4, label_mode=None, shard=(i, 2), drop_remainder=True, seed=1
        )
        for i in range(2)
    ]
    rows = [row_of(x) for ds in hosts for x in ds]
    assert len(hosts[0]) == 2 and all(len(r) == 4 for r in rows)
    assert len({r for batch in rows for r in batch}) == 16
    with pytest.raises(ValueError, match="on each of 5 hosts leaves no batch"):
        kd.ManifestDataset(manifest, batch_size=5, shard=(0, 5), drop_remainder=True)


@pytest.mark.parametrize(("before", "after"), [(4, 2), (2, 3), (3, 1), (1, 4)])
def test_a_run_saved_on_some_hosts_resumes_on_others_with_the_rows_not_seen(
    tmp_path, before, after
):
    n = 37
    manifest = write_samples(tmp_path, n, labels=[str(i) for i in range(n)])
    seen = []
    hosts = _hosts(manifest, before)
    for ds in hosts:  # two steps, in lockstep
        for _ in range(2):
            x, _, *w = ds._serve(ds._stream.plan(*ds._stream.next()))
            real = w[0] > 0 if w else np.ones(len(x), bool)
            seen += [r for r, keep in zip(row_of(x), real) if keep]
    state = hosts[-1].get_state()
    assert all(ds.get_state() == state for ds in hosts)
    for ds in _hosts(manifest, after):
        ds.set_state(state)
        for batch in ds.rest_of_epoch():
            x, _, *w = batch
            real = w[0] > 0 if w else np.ones(len(x), bool)
            seen += [r for r, keep in zip(row_of(x), real) if keep]
    assert sorted(seen) == list(range(n))
    changed = write_samples(tmp_path / "other", n, labels=["x"] * n)
    with pytest.raises(ValueError, match="changed since the state was saved"):
        _hosts(changed, after)[0].set_state(state)


def test_auto_is_one_host_without_a_running_engine(tmp_path):
    ds = kd.ManifestDataset(write_samples(tmp_path, 5), shard="auto")
    assert ds.shard == (0, 1)
    with pytest.raises(ValueError, match="Invalid `shard`"):
        kd.ManifestDataset(write_samples(tmp_path, 5), shard=(2, 2))


def test_auto_reads_tf_config_where_tensorflow_runs(monkeypatch):
    import json
    import sys

    from kdataset.training.sharding import engine_shard

    monkeypatch.setitem(sys.modules, "tensorflow", sys.modules.get("tensorflow", object()))
    config = {"cluster": {"worker": ["a:1", "b:2", "c:3"]}, "task": {"type": "worker", "index": 2}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert engine_shard() == (2, 3)
