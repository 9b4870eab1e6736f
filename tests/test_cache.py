"""The packed cache: filled on the first epoch, served after, rebuilt when anything changes."""

import contextlib
import errno
import json
import os
import pickle
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
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
    # Batches of epoch 1 began loading ahead while the cache was filling: forget them (as
    # a new epoch set by hand does), so that what is read from now on comes from the cache.
    ds.set_epoch(ds.epoch)
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


# -- the dtype samples are kept in --------------------------------------------------


def write_images(folder, n, size=(40, 36), seed=0):
    """`n` PNG files of random pixels (`size` is (height, width)) and a manifest `id,label`."""
    from PIL import Image

    folder = os.fspath(folder)
    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = [f"{i:04d}" for i in range(n)]
    for sample_id in ids:
        pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(os.path.join(folder, "images", f"{sample_id}.png"))
    manifest = os.path.join(folder, "images.csv")
    labels = [("a", "b", "c")[i % 3] for i in range(n)]
    pd.DataFrame({"id": ids, "label": labels}).to_csv(manifest, index=False)
    return manifest


IMAGES = {"path_template": "images/{id}.png", "batch_size": 8, "shuffle": False}


@pytest.mark.parametrize(
    "small,wide",
    [
        # uint8 batches, kept in uint8
        (
            lambda: kd.ImageLoader(image_size=(32, 32), dtype="uint8"),
            lambda: kd.ImageLoader(image_size=(32, 32)),
        ),
        # float32 batches of pixels no resize interpolated, kept in uint8
        (lambda: kd.ImageLoader(image_size=None), lambda: kd.ImageLoader(image_size=(40, 36))),
    ],
    ids=["uint8-loader", "exact-pixels"],
)
def test_a_uint8_cache_serves_the_batches_of_no_cache_in_a_quarter_of_the_space(
    tmp_path, small, wide
):
    manifest = write_images(tmp_path, 20)
    plain = kd.ManifestDataset(manifest, loader=small(), **IMAGES)
    cached = kd.ManifestDataset(manifest, loader=small(), cache=tmp_path / "u8", **IMAGES)
    assert cached.cache.dtype == np.uint8
    wide_cache = kd.ManifestDataset(manifest, loader=wide(), cache=tmp_path / "f32", **IMAGES)
    assert wide_cache.cache.dtype == np.float32 and wide_cache.sample_shape == cached.sample_shape
    for _ in range(2):  # the first fills the cache, the second is served from it
        for i in range(len(plain)):
            x, y = cached[i]
            expected_x, expected_y = plain[i]
            assert x.dtype == expected_x.dtype
            np.testing.assert_array_equal(x, expected_x)
            np.testing.assert_array_equal(y, expected_y)
        assert cached.cache.complete
    _epoch(wide_cache)
    assert os.path.getsize(tmp_path / "u8") * 4 == os.path.getsize(tmp_path / "f32")


# -- a disk too small for the cache ---------------------------------------------------


@contextlib.contextmanager
def small_disk(folder, size="2m"):
    """A tmpfs of `size` mounted at `folder` (tests run as root), unmounted after."""
    os.makedirs(folder, exist_ok=True)
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", os.fspath(folder)],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        pytest.skip("no `mount` command to make a small disk (a tmpfs) with")
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot mount a {size} tmpfs to fill (needs root, or CAP_SYS_ADMIN in a "
            f"container): {mounted.stderr.strip()}"
        )
    try:
        yield os.fspath(folder)
    finally:
        subprocess.run(["umount", os.fspath(folder)], check=True)


# Fits a tiny model twice: 20 samples with a cache that fits on the disk, then 200 whose
# cache (200 x 64x64x3 float32 = 9.8 MB) does not, at the same path. Prints what it saw.
_FIT_ON_A_SMALL_DISK = """
import json, os, sys, warnings
if sys.argv[3] == "zeros":  # as on macOS: no posix_fallocate, zeros are written instead
    del os.posix_fallocate
import keras
import kdataset as kd

small, big, disk = sys.argv[1], sys.argv[2], sys.argv[4]
cache = os.path.join(disk, "c")


class Count(keras.callbacks.Callback):
    batches = 0

    def on_train_batch_end(self, batch, logs=None):
        Count.batches += 1


def fit(manifest, epochs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = kd.ManifestDataset(manifest, batch_size=20, cache=cache, seed=0)
    model = keras.Sequential(
        [keras.Input((64, 64, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)]
    )
    model.compile("sgd", keras.losses.CategoricalCrossentropy(from_logits=True))
    Count.batches = 0
    model.fit(ds, epochs=epochs, verbose=0, callbacks=[Count()])
    warned = [str(w.message) for w in caught if issubclass(w.category, kd.CacheWarning)]
    complete = ds.cache is not None and ds.cache.complete
    return {"warnings": warned, "batches": Count.batches, "complete": complete}


fits = fit(small, 1)
before = sorted(os.listdir(disk))
too_big = fit(big, 2)
print(json.dumps({"fits": fits, "before": before, "too_big": too_big, "left": os.listdir(disk)}))
"""


@pytest.mark.parametrize("reserve", ["fallocate", "zeros"])
def test_a_cache_too_big_for_its_disk_warns_and_training_goes_on_without_it(tmp_path, reserve):
    small = write_samples(tmp_path / "small", 20, shape=(64, 64, 3))
    big = write_samples(tmp_path / "big", 200, shape=(64, 64, 3))
    with small_disk(tmp_path / "disk") as disk:
        run = subprocess.run(
            [sys.executable, "-c", _FIT_ON_A_SMALL_DISK, small, big, reserve, disk],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        free = shutil.disk_usage(disk).free
    # Before: SIGBUS (exit 135 from a shell, -7 here) in the first epoch, and no message.
    assert run.returncode == 0, (run.returncode, run.stderr[-3000:])
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["fits"] == {"warnings": [], "batches": 1, "complete": True}
    assert seen["before"] == ["c", "c.filled", "c.json"]
    (message,) = seen["too_big"]["warnings"]
    needed = 200 * 64 * 64 * 3 * 4 + 200
    assert os.path.join(disk, "c") in message
    assert f"needs {needed:,} bytes" in message
    # What was free when the cache was refused: at most the disk's size, as measured after.
    said = re.search(r"and ([\d,]+) bytes(?: \([\d.]+ [kMG]?B\))? are free", message)
    assert said is not None, message
    assert 0 <= int(said.group(1).replace(",", "")) <= free
    assert "goes on without the cache" in message
    assert seen["too_big"]["batches"] == 2 * 10 and not seen["too_big"]["complete"]
    assert seen["left"] == []  # the old cache is gone, and no half-made one is left


def test_a_cache_that_cannot_be_made_is_never_served_half_made(tmp_path, monkeypatch):
    manifest = write_samples(tmp_path, 12, shape=(3,))
    cache = tmp_path / "c.bin"
    _epoch(kd.ManifestDataset(manifest, batch_size=4, cache=cache))
    os.utime(tmp_path / "data" / "0004.npy", ns=(0, 10**9))  # the cache is now stale

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.warns(kd.CacheWarning, match=r"No space for the cache .*c\.bin.*needs 156 bytes"):
        ds = kd.ManifestDataset(manifest, batch_size=4, cache=cache, shuffle=False)
    assert ds.cache is None and sorted(os.listdir(tmp_path)) == ["data", "train.csv"]
    assert [row_of(ds[i][0]) for i in range(3)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    monkeypatch.undo()
    again = kd.ManifestDataset(manifest, batch_size=4, cache=cache)
    assert again.cache.rebuilt and again.cache.filled_count == 0


# -- built ahead: kd.build_cache ----------------------------------------------------


def test_build_cache_fills_the_cache_the_dataset_opens(tmp_path):
    manifest = write_images(tmp_path, 30)
    loader = kd.ImageLoader(image_size=(16, 16))
    report = kd.build_cache(
        manifest, tmp_path / "c", path_template="images/{id}.png", loader=loader, progress=False
    )
    assert (report.samples, report.already, report.written, report.failed) == (30, 0, 30, [])
    assert report.complete and report.started_clean and not report.resumed
    assert (report.shape, report.dtype) == ((16, 16, 3), "float32")
    assert report.nbytes == os.path.getsize(tmp_path / "c") == 30 * 16 * 16 * 3 * 4
    ds = kd.ManifestDataset(manifest, loader=loader, cache=tmp_path / "c", **IMAGES)
    assert not ds.cache.rebuilt and ds.cache.complete
    plain = kd.ManifestDataset(manifest, loader=kd.ImageLoader(image_size=(16, 16)), **IMAGES)
    for i in range(len(plain)):
        np.testing.assert_array_equal(ds[i][0], plain[i][0])
    again = kd.build_cache(
        manifest, tmp_path / "c", path_template="images/{id}.png", loader=loader, progress=False
    )
    assert (again.already, again.written, again.started_clean) == (30, 0, False)


def test_build_cache_goes_on_from_the_samples_there_and_leaves_out_those_that_fail(tmp_path):
    manifest = write_images(tmp_path, 30)
    ds = kd.ManifestDataset(manifest, cache=tmp_path / "c", **IMAGES)
    ds[0], ds[2]  # the first epoch fills rows 0-7 and 16-23
    broken = tmp_path / "images" / "0027.png"
    stat = os.stat(broken)
    with open(broken, "r+b") as f:  # same size and time: the cache stays the files'
        f.write(b"broken")
    os.utime(broken, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    report = kd.build_cache(
        manifest, tmp_path / "c", path_template="images/{id}.png", loader="image", progress=False
    )
    assert (report.already, report.written, report.complete) == (16, 13, False)
    assert report.resumed and not report.started_clean
    (problem,) = report.failed
    assert problem.line == "line 29 of images.csv" and problem.id == "0027"
    assert problem.path == os.fspath(broken) and "not a readable image" in problem.message
    reopened = kd.ManifestDataset(manifest, cache=tmp_path / "c", **IMAGES)
    assert reopened.cache.missing_rows().tolist() == [27]


def test_build_cache_checks_its_arguments_before_any_work(tmp_path):
    manifest = write_images(tmp_path, 3)
    with pytest.raises(kd.ManifestError, match="file not found"):
        kd.build_cache(manifest, tmp_path / "c", path_template="nowhere/{id}.png")
    with pytest.raises(ValueError, match="Invalid `workers`"):
        kd.build_cache(manifest, tmp_path / "c", path_template="images/{id}.png", workers=-1)
    assert not os.path.exists(tmp_path / "c")
