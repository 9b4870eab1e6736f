"""Images: the pixels of image_dataset_from_directory, without TensorFlow, and fast paths held
to the slow ones."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import kdataset as kd
from kdataset.loading import imaging
from tests.make_image_fixtures import CONFIGS, FILES, FOLDER, references

REFERENCE = dict(np.load(os.path.join(FOLDER, "idfd.npz")))
HAVE_TF = importlib.util.find_spec("tensorflow") is not None


def _loader(config):
    _, size, mode, interpolation, crop, pad = config
    return kd.ImageLoader(
        image_size=size,
        color_mode=mode,
        interpolation=interpolation,
        crop_to_aspect_ratio=crop,
        pad_to_aspect_ratio=pad,
    )


@pytest.mark.parametrize("config", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_pixels_are_those_of_image_dataset_from_directory(config):
    # The references are what Keras's image_dataset_from_directory loads (TensorFlow's
    # decode and tf.image.resize): stored, and checked against TensorFlow below.
    loader = _loader(config)
    checked = 0
    for name, _ in FILES:
        key = f"{config[0]}/{name}"
        if key not in REFERENCE:
            continue  # IDFD cannot load it this way
        ours = loader(os.path.join(FOLDER, name))
        assert ours.dtype == np.float32 and ours.shape == REFERENCE[key].shape
        difference = np.abs(ours - REFERENCE[key]).mean()
        assert difference <= 0.5, (key, difference)  # the promise; it is 0 for every file here
        checked += 1
    assert checked >= 3


@pytest.mark.skipif(not HAVE_TF, reason="the stored references are checked where TF is installed")
def test_the_stored_references_are_what_tensorflow_gives():
    live = references()
    assert sorted(live) == sorted(REFERENCE)
    for key, pixels in live.items():
        np.testing.assert_array_equal(pixels, REFERENCE[key], err_msg=key)


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    channels=st.sampled_from([1, 3, 4]),
    out_height=st.integers(1, 40),
    out_width=st.integers(1, 40),
    nearest=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_the_c_resize_equals_the_numpy_one(
    height, width, channels, out_height, out_width, nearest, seed
):
    if imaging._resize_c is None:
        pytest.fail("kdataset.loading._imaging is not built: install where a C compiler is found")
    rng = np.random.default_rng(seed)
    src = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    window = (0, 0, height, width) if seed % 2 else imaging.crop_window(height, width, 7, 5)
    place = (0, 0, out_height, out_width)
    fast = np.zeros((out_height, out_width, channels), np.float32)
    slow = np.zeros_like(fast)
    imaging.resize_into(src, fast, window, place, nearest)
    imaging._resize_numpy(src, slow, window, place, nearest)
    np.testing.assert_array_equal(fast, slow)


def test_the_numpy_resize_is_used_without_the_c_one(monkeypatch):
    monkeypatch.setattr(imaging, "_resize_c", None)
    test_pixels_are_those_of_image_dataset_from_directory(CONFIGS[0])


def test_images_of_different_sizes_without_image_size_name_both_files(tmp_path):
    for name, size in (("a", (20, 10)), ("b", (20, 10)), ("c", (12, 10))):
        Image.new("RGB", size, (9, 9, 9)).save(tmp_path / f"{name}.png")
    pd.DataFrame({"id": ["a", "b", "c"], "label": [0, 1, 0]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    ds = kd.ManifestDataset(
        tmp_path / "m.csv", batch_size=3, path_template="{id}.png", shuffle=False
    )
    with pytest.raises(kd.SampleError) as info:
        ds[0]
    message = str(info.value)
    assert "c.png" in message and "the image is 10x12 (height x width)" in message
    assert "a.png" in message and "is 10x20" in message and "image_size" in message


def test_image_arguments_are_checked():
    with pytest.raises(ValueError, match="opposite"):
        kd.ImageLoader((8, 8), crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="pass `image_size"):
        kd.ImageLoader(crop_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="Invalid `interpolation`"):
        kd.ImageLoader((8, 8), interpolation="cubic")


def test_an_unreadable_image_is_named(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(kd.SampleError, match="not a readable image") as info:
        kd.ImageLoader((8, 8))(str(tmp_path / "bad.jpg"))
    assert info.value.path.endswith("bad.jpg")


def test_antialias_is_close_to_an_area_resize_of_the_full_image(tmp_path):
    from sklearn.datasets import load_sample_image

    photo = Image.fromarray(load_sample_image("china.jpg"))  # 640x427
    photo.save(tmp_path / "p.jpg", quality=92)
    size = (100, 120)  # the decode is reduced to 1/2: 320x214, still twice the size
    smooth = kd.ImageLoader(size, antialias=True)(str(tmp_path / "p.jpg"))
    full = np.asarray(Image.open(tmp_path / "p.jpg").convert("RGB"), dtype=np.float32)
    area = np.stack(
        [
            np.asarray(Image.fromarray(full[..., c], "F").resize(size[::-1], Image.BOX))
            for c in range(3)
        ],
        axis=-1,
    )
    plain = kd.ImageLoader(size)(str(tmp_path / "p.jpg"))
    # Measured 3.8 and 9.4 levels (of 255) here: bilinear skips pixels when it shrinks.
    assert 0 < np.abs(smooth - area).mean() < 5
    assert np.abs(plain - area).mean() > 2 * np.abs(smooth - area).mean()


@pytest.mark.parametrize("interpolation,stored", [("bilinear", "float32"), ("nearest", "uint8")])
def test_the_cache_keeps_images_in_their_smallest_exact_dtype(tmp_path, interpolation, stored):
    names = [name for name, _ in FILES]
    pd.DataFrame({"id": names, "label": [0, 1] * 3, "path": names}).to_csv(
        tmp_path / "m.csv", index=False
    )
    import shutil

    for name in names:
        shutil.copy(os.path.join(FOLDER, name), tmp_path / name)
    settings_ = {"batch_size": 6, "shuffle": False, "label_mode": "int"}
    loader = kd.ImageLoader((16, 16), interpolation=interpolation)
    plain = kd.ManifestDataset(tmp_path / "m.csv", loader=loader, **settings_)[0][0]
    cached = kd.ManifestDataset(
        tmp_path / "m.csv", loader=loader, cache=tmp_path / "c.kdcache", **settings_
    )
    first = cached[0][0]
    assert cached.cache.complete and cached.cache.dtype == np.dtype(stored)
    again = cached[0][0]  # from the cache
    assert again.dtype == np.float32
    np.testing.assert_array_equal(first, plain)
    np.testing.assert_array_equal(again, plain)
    size = os.path.getsize(tmp_path / "c.kdcache")
    assert size == 6 * 16 * 16 * 3 * np.dtype(stored).itemsize


def test_images_load_without_tensorflow(tmp_path):
    # The image path needs only kdataset's own dependencies (and the backend).
    code = (
        "import sys, kdataset as kd\n"
        f"loader = kd.ImageLoader((8, 8))\n"
        f"for name in {[n for n, _ in FILES]!r}:\n"
        f"    loader({FOLDER!r} + '/' + name)\n"
        "print('tensorflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("interpolation", ["bicubic", "lanczos3"])
def test_pillow_filters_keep_pixels_in_range(interpolation):
    enlarged = kd.ImageLoader((64, 64), interpolation=interpolation)(
        os.path.join(FOLDER, FILES[0][0])
    )
    assert enlarged.min() >= 0 and enlarged.max() <= 255
