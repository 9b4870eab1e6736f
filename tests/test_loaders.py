"""Loaders: .npy read fast and safely, images through Pillow, plain functions."""

import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kdataset as kd


def _batch(loader, paths, shape, dtype):
    out = np.empty((len(paths), *shape), dtype)
    for j, path in enumerate(paths):
        loader.load_into(path, out[j, ...])  # a view, also for 0-d samples
    return out


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shape=st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple),
    dtype=st.sampled_from(
        ["float32", "float64", "int8", "uint16", "int64", "bool", ">f4", "complex64"]
    ),
)
def test_npy_fast_path_matches_np_load(tmp_path_factory, shape, dtype):
    folder = tmp_path_factory.mktemp("npy")
    rng = np.random.default_rng(0)
    arrays = [np.asarray(rng.standard_normal(shape) * 10).astype(dtype) for _ in range(3)]
    paths = []
    for i, array in enumerate(arrays):
        paths.append(os.path.join(folder, f"{i}.npy"))
        np.save(paths[-1], array)
    loader = kd.NpyLoader()
    probed_shape, probed_dtype = loader.probe(paths[0])
    assert probed_shape == shape and probed_dtype == np.dtype(dtype)
    out = _batch(loader, paths, shape, np.dtype(dtype))
    for got, want in zip(out, arrays):
        np.testing.assert_array_equal(got, want)
    for path, want in zip(paths, arrays):  # loading one file, after the batch
        np.testing.assert_array_equal(loader(path), want)


def test_npy_fortran_order_and_other_header_versions(tmp_path):
    c = np.arange(12, dtype="float32").reshape(3, 4)
    np.save(tmp_path / "c.npy", c)
    np.save(tmp_path / "f.npy", np.asfortranarray(c))
    with open(tmp_path / "v2.npy", "wb") as f:
        np.lib.format.write_array(f, c, version=(2, 0))
    loader = kd.NpyLoader()
    loader.probe(str(tmp_path / "c.npy"))
    out = _batch(
        loader, [str(tmp_path / n) for n in ("c.npy", "f.npy", "v2.npy")], (3, 4), np.float32
    )
    for sample in out:
        np.testing.assert_array_equal(sample, c)


def test_npy_never_unpickles(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(kd.SampleError, match="pickle") as info:
        kd.NpyLoader()(str(tmp_path / "o.npy"))
    assert "o.npy" in str(info.value)


def test_image_loader_resizes_and_converts(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((10, 20, 3), 200, np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.full((30, 30), 50, np.uint8)).save(tmp_path / "b.jpg")
    rgb = kd.ImageLoader(image_size=(8, 6))
    assert rgb(str(tmp_path / "a.png")).shape == (8, 6, 3)
    gray = kd.ImageLoader(image_size=(4, 4), color_mode="grayscale")
    image = gray(str(tmp_path / "b.jpg"))
    assert image.shape == (4, 4, 1) and image.dtype == np.float32
    assert abs(float(image.mean()) - 50) < 2


def test_image_dataset_from_a_manifest(tmp_path):
    import pandas as pd
    from PIL import Image

    for i in range(6):
        Image.fromarray(np.full((12, 12, 3), i * 40, np.uint8)).save(tmp_path / f"{i}.png")
    pd.DataFrame({"path": [f"{i}.png" for i in range(6)], "label": ["x", "y"] * 3}).to_csv(
        tmp_path / "images.csv", index=False
    )
    ds = kd.ManifestDataset(tmp_path / "images.csv", batch_size=6, id_column=None, shuffle=False)
    x, y = ds[0]
    assert y.argmax(axis=1).tolist() == [0, 1] * 3
    assert isinstance(ds.loader, kd.ImageLoader)
    assert x.shape == (6, 12, 12, 3)
    assert x[:, 0, 0, 0].tolist() == [i * 40 for i in range(6)]
    ds = kd.ManifestDataset(
        tmp_path / "images.csv",
        batch_size=3,
        id_column=None,
        loader=kd.ImageLoader(image_size=(5, 5), color_mode="grayscale"),
    )
    assert ds[0][0].shape == (3, 5, 5, 1)


def test_image_loader_arguments_are_checked():
    with pytest.raises(ValueError, match=r"Invalid `image_size`"):
        kd.ImageLoader(image_size=(0, 3))
    with pytest.raises(ValueError, match=r"Invalid `color_mode`.*Received: color_mode='cmyk'"):
        kd.ImageLoader(color_mode="cmyk")
    with pytest.raises(ValueError, match=r"Invalid `interpolation`"):
        kd.ImageLoader(interpolation="fancy")


@pytest.mark.parametrize("make", [kd.ImageLoader, kd.MaskLoader])
def test_image_dtype_is_float32_or_uint8(make):
    expected = (
        r"Invalid `dtype`: expected one of \{'float32', 'uint8'\} \(or those NumPy dtypes\)\. "
    )
    for bad, shown in (
        ("float16", "'float16'"),
        (np.float64, "<class 'numpy.float64'>"),
        ("int8", "'int8'"),
        (None, "None"),  # np.dtype(None) would be float64
        ("pixels", "'pixels'"),
        (">f4", "'>f4'"),  # float32, but not in this machine's byte order
    ):
        with pytest.raises(ValueError, match=expected + re.escape(f"Received: dtype={shown}")):
            make((8, 8), dtype=bad)
    for good, dtype in (
        ("uint8", np.uint8),
        (np.uint8, np.uint8),
        (np.dtype("float32"), np.float32),
        ("f4", np.float32),
    ):
        loader = make((8, 8), dtype=good)
        assert loader.dtype == dtype and loader.storage_dtype == (
            np.uint8 if make is kd.MaskLoader else dtype
        )
    assert make().dtype == np.float32
    assert "dtype" not in repr(make((8, 8)))  # float32 loaders keep their cache keys
    assert repr(make((8, 8), dtype=np.uint8)).endswith(", dtype='uint8')")


def test_auto_loader_names_the_extensions_it_cannot_read(tmp_path):
    import pandas as pd

    (tmp_path / "a.txt").write_text("1")
    pd.DataFrame({"id": ["a"], "label": [1], "path": ["a.txt"]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    with pytest.raises(ValueError, match=r"cannot tell how to load files with extension '\.txt'"):
        kd.ManifestDataset(tmp_path / "m.csv")
    ds = kd.ManifestDataset(
        tmp_path / "m.csv", loader=lambda p: np.array([float(open(p).read())]), label_mode="int"
    )
    assert ds[0][0].tolist() == [[1.0]]


@pytest.fixture(params=["c", "python", "no-preadv"])
def reader(request, monkeypatch):
    """Batches read by kdataset's C reader, by its Python fallback, and where there is no
    `os.preadv` (Windows): the same results."""
    from kdataset.loading import loaders

    if request.param == "c":
        if os.name != "posix":
            pytest.skip("the C reader is built on POSIX systems only")
        assert loaders._read_rows is not None, (
            "kdataset.loading._fastread is not built: install kdataset where a C compiler is found "
            "(tox does), or every .npy batch is read holding the GIL"
        )
    else:
        monkeypatch.setattr(loaders, "_read_rows", None)
    if request.param == "no-preadv":
        monkeypatch.setattr(loaders, "_HAVE_PREADV", False)
    return request.param


def _npy_files(folder, arrays):
    paths = []
    for i, array in enumerate(arrays):
        paths.append(os.path.join(folder, f"{i}.npy"))
        np.save(paths[-1], array)
    return paths


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shape=st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple),
    dtype=st.sampled_from(["float32", "int8", "uint16", "bool", ">f4", "complex64"]),
    count=st.integers(1, 9),
)
def test_batch_read_matches_np_load(tmp_path_factory, reader, shape, dtype, count):
    rng = np.random.default_rng(count)
    arrays = [np.asarray(rng.standard_normal(shape) * 10).astype(dtype) for _ in range(count)]
    paths = _npy_files(tmp_path_factory.mktemp("npy"), arrays)
    loader = kd.NpyLoader()
    loader.probe(paths[0])
    out = np.full((count, *shape), 7, dtype)
    assert loader.load_many_into(paths, out) == []
    for got, want in zip(out, arrays):
        np.testing.assert_array_equal(got, want)


def test_batch_read_takes_other_header_layouts(tmp_path, reader):
    c = np.arange(12, dtype="float32").reshape(3, 4)
    paths = _npy_files(tmp_path, [c, np.asfortranarray(c), c])
    with open(paths[2], "wb") as f:
        np.lib.format.write_array(f, c, version=(2, 0))
    loader = kd.NpyLoader()
    loader.probe(paths[0])
    out = np.zeros((3, 3, 4), "float32")
    assert loader.load_many_into(paths, out) == []
    for sample in out:
        np.testing.assert_array_equal(sample, c)


def test_batch_read_names_every_bad_file(tmp_path, reader):
    good = np.arange(6, dtype="float32")
    paths = _npy_files(tmp_path, [good, good * 2, good[:4], good.astype("int64"), good * 5])
    with open(paths[1], "r+b") as f:
        f.truncate(os.path.getsize(paths[1]) - 8)  # two values short
    np.save(tmp_path / "o.npy", np.array([{}] * 6, dtype=object), allow_pickle=True)
    os.mkdir(tmp_path / "folder.npy")
    paths += [str(tmp_path / "missing.npy"), str(tmp_path / "o.npy"), str(tmp_path / "folder.npy")]
    loader = kd.NpyLoader()
    loader.probe(paths[0])
    out = np.zeros((len(paths), 6), "float32")

    failures = loader.load_many_into(paths, out, skip=True)

    reasons = {position: (error.path, error.reason) for position, error in failures}
    assert sorted(reasons) == [1, 2, 3, 5, 6, 7]
    assert all(path == paths[position] for position, (path, _) in reasons.items())
    assert "truncated: 16 of its 24 data bytes" in reasons[1][1]
    assert "shape (4,) and dtype float32 differ" in reasons[2][1]
    assert "dtype int64 differ" in reasons[3][1]
    assert "cannot read the file (No such file or directory)" in reasons[5][1]
    assert "pickle" in reasons[6][1]
    assert "cannot read the file (Is a directory)" in reasons[7][1]
    np.testing.assert_array_equal(out[0], good)
    np.testing.assert_array_equal(out[4], good * 5)
    first = loader.load_many_into(paths, out)  # without skip: the first failure only
    assert [position for position, _ in first] == [1]


def test_npy_loader_reads_outside_the_gil_where_built(reader):
    assert kd.NpyLoader().releases_gil is (reader == "c")
    assert kd.ImageLoader().releases_gil
    assert not kd.FunctionLoader(np.load).releases_gil
    assert kd.FunctionLoader(np.load, releases_gil=True).releases_gil


def _photo(path, size):
    """scikit-learn's photo of a temple (640x427) resized to `size` with Lanczos, as a JPEG."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    photo = Image.fromarray(load_sample_image("china.jpg"))
    photo.resize(size, Image.Resampling.LANCZOS).save(path, quality=90)
    return str(path)


def test_antialias_decodes_a_large_jpeg_at_the_smallest_scale_that_covers_image_size(tmp_path):
    import simplejpeg

    from kdataset.loading import imaging

    large = _photo(tmp_path / "large.jpg", (960, 720))
    with open(large, "rb") as f:
        data = f.read()
    # (image_size, geometry, the size it is decoded at): 1/2 is 360x480, 1/4 180x240, 1/8 90x120.
    cases = [
        ((180, 240), {}, (180, 240)),  # 1/4 covers it exactly
        ((181, 240), {}, (360, 480)),  # 1/4 is a row short
        ((100, 100), {}, (180, 240)),  # 1/8 is 90 rows
        ((100, 100), {"pad_to_aspect_ratio": True}, (90, 120)),  # padded to 75x100: 1/8 covers it
        ((100, 100), {"crop_to_aspect_ratio": True}, (180, 240)),  # 1/4 crops to 180x180
        ((400, 500), {}, (720, 960)),  # less than twice: decoded in full
    ]
    for color_mode, colorspace in (("rgb", "RGB"), ("grayscale", "GRAY")):
        for size, geometry, decoded in cases:
            loader = kd.ImageLoader(size, color_mode=color_mode, antialias=True, **geometry)
            # What it should be: that decode, cropped or padded, averaged by area into place.
            image = simplejpeg.decode_jpeg(
                data, colorspace, fastdct=True, min_height=decoded[0], min_width=decoded[1]
            )
            assert image.shape[:2] == decoded
            want = np.zeros((*size, image.shape[2]), np.float32)
            window = (
                imaging.crop_window(*decoded, *size)
                if geometry.get("crop_to_aspect_ratio")
                else None
            )
            place = (
                imaging.pad_place(*decoded, *size) if geometry.get("pad_to_aspect_ratio") else None
            )
            imaging.area_into(image, want, window, place)
            np.testing.assert_array_equal(loader(large), want, err_msg=f"{size} {geometry}")
    # Decoded in full, antialias is the area resize, as `interpolation="area"` (cache keys differ).
    fast = kd.ImageLoader((400, 500), antialias=True)
    full = kd.ImageLoader((400, 500), interpolation="area")
    assert repr(fast) != repr(full)
    np.testing.assert_array_equal(fast(large), full(large))


def test_antialias_reduces_the_decode_where_pillow_decodes_too(tmp_path, monkeypatch):
    import functools

    from kdataset.loading import imaging

    large = _photo(tmp_path / "large.jpg", (960, 720))
    with open(large, "rb") as f:
        data = f.read()
    by_libjpeg_turbo = kd.ImageLoader((180, 240), antialias=True)(large)
    monkeypatch.setattr(imaging, "simplejpeg", None)  # a platform without its wheels
    covers = functools.partial(imaging.shrinks, target=(180, 240))
    assert imaging.decode(data, "rgb", covers).shape == (180, 240, 3)  # at 1/4
    assert imaging.decode(data, "grayscale", covers).shape == (180, 240, 1)
    by_pillow = kd.ImageLoader((180, 240), antialias=True)(large)
    assert np.abs(by_pillow - by_libjpeg_turbo).mean() < 2  # Pillow's accurate DCT


def test_mask_loader_serves_uint8_class_indices(tmp_path):
    from PIL import Image

    classes = np.zeros((12, 16), np.uint8)
    classes[:, 4:8], classes[:, 8:12], classes[6:, 12:] = 1, 2, 200
    mask = Image.fromarray(classes, mode="L").convert("P")
    mask.save(tmp_path / "m.png")
    floats = kd.MaskLoader((9, 8))(str(tmp_path / "m.png"))
    indices = kd.MaskLoader((9, 8), dtype="uint8")(str(tmp_path / "m.png"))
    assert indices.dtype == np.uint8 and indices.shape == (9, 8, 1)
    np.testing.assert_array_equal(indices, floats)
    assert set(np.unique(indices).tolist()) == {0, 1, 2, 200}
    padded = kd.MaskLoader((9, 9), pad_to_aspect_ratio=True, dtype="uint8")(str(tmp_path / "m.png"))
    assert padded.dtype == np.uint8 and (padded[0] == 0).all()  # class 0 around
    # Classes above 255 do not fit: refused, whatever the dtype, naming the file.
    Image.fromarray(np.full((12, 16), 300, np.uint16)).save(tmp_path / "wide.png")
    for dtype in ("uint8", "float32"):
        with pytest.raises(
            kd.SampleError, match=r"mask values up to 300: masks hold class indices 0\.\.255"
        ) as info:
            kd.MaskLoader((9, 8), dtype=dtype)(str(tmp_path / "wide.png"))
        assert info.value.path.endswith("wide.png")


def test_a_dataset_of_uint8_images_serves_uint8_batches_padded_with_zeros(tmp_path):
    import pandas as pd
    from PIL import Image

    for i in range(5):
        Image.fromarray(np.full((12, 10, 3), 40 * (i + 1), np.uint8)).save(tmp_path / f"{i}.png")
    pd.DataFrame(
        {"path": [f"{i}.png" for i in range(5)], "label": ["x", "y", "x", "y", "x"]}
    ).to_csv(tmp_path / "images.csv", index=False)
    loader = kd.ImageLoader((6, 5), dtype="uint8")
    for inputs in (None, {"image": kd.Files("path", loader=loader)}):
        ds = kd.ManifestDataset(
            tmp_path / "images.csv",
            batch_size=4,
            id_column=None,
            shuffle=False,
            pad_remainder=True,
            label_mode="int",
            **({"loader": loader} if inputs is None else {"inputs": inputs}),
        )
        (x, y, weights), (last, _, last_weights) = ds[0], ds[1]
        if inputs is not None:
            x, last = x["image"], last["image"]
        assert x.dtype == last.dtype == np.uint8 and x.shape == last.shape == (4, 6, 5, 3)
        assert x[:, 0, 0, 0].tolist() == [40, 80, 120, 160]
        assert y.tolist() == [0, 1, 0, 1] and weights.tolist() == [1, 1, 1, 1]
        assert last[0, 0, 0, 0] == 200 and (last[0] == 200).all()
        assert (last[1:] == 0).all() and last_weights.tolist() == [1, 0, 0, 0]  # the padding


@pytest.mark.parametrize("order", ["C", "F"])
def test_npy_loads_into_a_view_of_a_batch(tmp_path, order):
    # A column slice of a batch array is not contiguous: it is filled all the same.
    path = str(tmp_path / "x.npy")
    value = np.array(np.arange(6, dtype=np.float32).reshape(3, 2), order=order)
    np.save(path, value)
    batch = np.zeros((3, 4), np.float32)
    kd.NpyLoader().load_into(path, batch[:, :2])
    np.testing.assert_array_equal(batch[:, :2], value)
    assert not batch[:, 2:].any()
