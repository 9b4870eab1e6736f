"""The packed cache: filled on the first epoch, served after, rebuilt when anything changes."""

import os
import pickle

import numpy as np
import pytest

import kdataset as kd
from tests.conftest import row_of, write_samples
from tests.spy import PROCESSES


def _epoch(ds):
    return {r: x for batch in ds for r, x in zip(row_of(batch[0]), batch[0])}


@pytest.mark.parametrize(
    "settings",
    [{}, {"workers": 2}, PROCESSES],
    ids=["one", "threads", "processes"],
)
def test_the_first_epoch_fills_the_cache_and_later_ones_read_it(tmp_path, settings):
    manifest = write_samples(tmp_path, 23, shape=(3, 2))
    cache = tmp_path / "cache" / "samples.bin"
    ds = kd.ManifestDataset(manifest, batch_size=5, seed=1, cache=cache, **settings)
    assert ds.cache.rebuilt and ds.cache.filled_count == 0
    first = _epoch(ds)
    assert ds.cache.filled_count == 23 and ds.cache.complete
    for path in ds.manifest.paths:  # from now on the files are not read
        os.remove(path)
    second = _epoch(ds)
    ds.close()
    assert sorted(first) == sorted(second) == list(range(23))
    for r in first:
        np.testing.assert_array_equal(first[r], second[r])
        assert (second[r] == r).all()


def test_a_changed_file_rebuilds_the_cache(tmp_path):
    manifest = write_samples(tmp_path, 6)
    cache = tmp_path / "c.bin"
    ds = kd.ManifestDataset(manifest, batch_size=3, cache=cache, shuffle=False)
    _epoch(ds)
    again = kd.ManifestDataset(manifest, batch_size=3, cache=cache, shuffle=False)
    assert not again.cache.rebuilt and again.cache.complete
    path = again.manifest.paths[4]
    np.save(path, np.full(4, 99, "float32"))
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    changed = kd.ManifestDataset(manifest, batch_size=3, cache=cache, shuffle=False)
    assert changed.cache.rebuilt and changed.cache.filled_count == 0
    assert changed[1][0][1].tolist() == [99, 99, 99, 99]


def test_another_loader_or_manifest_rebuilds_the_cache(tmp_path):
    manifest = write_samples(tmp_path, 6)
    cache = tmp_path / "c.bin"
    _epoch(kd.ManifestDataset(manifest, batch_size=3, cache=cache))
    doubled = kd.ManifestDataset(
        manifest, batch_size=3, cache=cache, loader=kd.FunctionLoader(_double), shuffle=False
    )
    assert doubled.cache.rebuilt
    assert doubled[0][0][1].tolist() == [2, 2, 2, 2]
    fewer = write_samples(tmp_path / "fewer", 4)
    assert kd.ManifestDataset(fewer, batch_size=3, cache=cache).cache.rebuilt


def _double(path):
    return kd.NpyLoader()(path) * 2


def test_failed_samples_are_not_cached(tmp_path):
    manifest = write_samples(tmp_path, 8)
    ds = kd.ManifestDataset(manifest, batch_size=4, cache=tmp_path / "c.bin", on_error="skip")
    with open(ds.manifest.paths[5], "wb") as f:
        f.write(b"broken")
    with pytest.warns(kd.SkippedSamplesWarning):
        rows = sorted(_epoch(ds))
    assert rows == [0, 1, 2, 3, 4, 6, 7]
    assert ds.cache.filled_count == 7 and not ds.cache.complete


def test_a_cached_dataset_pickles_without_its_mappings(tmp_path):
    ds = kd.ManifestDataset(write_samples(tmp_path, 5), batch_size=5, cache=tmp_path / "c.bin")
    _epoch(ds)
    clone = pickle.loads(pickle.dumps(ds))
    assert len(pickle.dumps(ds)) < 200_000
    assert clone.cache.complete and sorted(_epoch(clone)) == list(range(5))
