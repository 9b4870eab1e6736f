"""Object storage: a real S3-compatible server (moto's) on localhost, and fsspec's memory://."""

import io
import logging
import os
import pickle
import socket
import sys
import threading
import time
import uuid
import warnings

import fsspec
import numpy as np
import pandas as pd
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from kdataset.errors import ManifestError, SampleError
from kdataset.io import storage
from kdataset.io.manifest import _read_frame
from kdataset.loading.loaders import FunctionLoader, ImageLoader, NpyLoader

KEY = "AKIAKDATASETFAKEKEY1"
SECRET = "kdatasetFakeSecret/0123456789abcdefXYZ"
SIGNATURE = "f00dfeedcafe0123456789abcdef0123456789abcdef0123456789abcdef0123"
BUCKET = "kdataset-test"


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _image(kind, seed):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=kind)
    return buffer.getvalue()


def _start_server():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def _options(endpoint):
    return {
        "key": KEY,
        "secret": SECRET,
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }


def _fill_bucket(endpoint):
    import boto3

    client = boto3.client(
        "s3",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        endpoint_url=endpoint,
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    objects = {}
    rows = []
    for folder in ("a", "b"):
        for i in range(6):
            name = f"data/{folder}/{i}.npy"
            objects[name] = _npy(np.full((3, 4), 10 * (folder == "b") + i, dtype="float32"))
            rows.append((f"{folder}{i}", folder, name))
    objects["big/wide.npy"] = _npy(np.arange(20_000, dtype="float64").reshape(100, 200))
    objects["big/fortran.npy"] = _npy(np.asfortranarray(np.arange(12).reshape(3, 4)))
    objects["images/x.png"] = _image("PNG", 0)
    objects["images/y.jpg"] = _image("JPEG", 1)
    lines = ["id, label, path"] + [f"{i}, {label}, {path}" for i, label, path in rows]
    objects["train.csv"] = ("\n".join(lines) + "\n").encode()
    objects["semicolon.csv"] = b"id;path;value\n1;data/a/0.npy;0,5\n2;data/a/1.npy;1,5\n"
    for name, data in objects.items():
        client.put_object(Bucket=BUCKET, Key=name, Body=data)
    return objects


@pytest.fixture(scope="module")
def s3():
    """A real S3 server on a free port, with a bucket of a manifest, arrays and images."""
    server, endpoint = _start_server()
    objects = _fill_bucket(endpoint)
    try:
        yield {"options": _options(endpoint), "objects": objects, "endpoint": endpoint}
    finally:
        server.stop()


def url(name):
    return f"s3://{BUCKET}/{name}"


class Requests:
    """Counts the HTTP requests s3fs sends (botocore's `before-send` event), with their Range."""

    def __init__(self, options):
        fs, _ = storage.filesystem(url(""), options)
        fs.ls(BUCKET)  # connects: the client exists from here on
        self.sent = []
        fs.s3.meta.events.register("before-send.s3", self)

    def __call__(self, request, **kwargs):
        byte_range = request.headers.get("Range")
        if isinstance(byte_range, bytes):
            byte_range = byte_range.decode()
        self.sent.append((request.method, request.url, byte_range))


def assert_no_credentials(text):
    text = str(text)
    for secret in (KEY, SECRET, SIGNATURE):
        assert secret not in text


# -- URLs ------------------------------------------------------------------


def test_is_url():
    assert storage.is_url("s3://bucket/a.npy")
    assert storage.is_url("gs://bucket/a.npy")
    assert storage.is_url("memory://x/a.npy")
    assert storage.is_url("simplecache::s3://bucket/a.npy")
    assert not storage.is_url("file:///data/a.npy")
    assert not storage.is_url("/data/a.npy")
    assert not storage.is_url("data/a.npy")
    assert not storage.is_url(r"C:\data\a.npy")
    assert not storage.is_url(None)


def test_resolve_joins_relative_paths_and_keeps_absolute_ones():
    root = "s3://bucket/data"
    assert storage.resolve(root, "a/0.npy") == "s3://bucket/data/a/0.npy"
    assert storage.resolve(root + "/", "a/0.npy") == "s3://bucket/data/a/0.npy"
    assert storage.resolve(root, "./a/../b//1.npy") == "s3://bucket/data/b/1.npy"
    assert storage.resolve(root, "../other/2.npy") == "s3://bucket/other/2.npy"
    assert storage.resolve(root, "../../../x.npy") == "s3://bucket/x.npy"  # not above the bucket
    assert storage.resolve(root, "gs://elsewhere/3.npy") == "gs://elsewhere/3.npy"
    assert storage.resolve(root, "/mnt/local/4.npy") == "/mnt/local/4.npy"
    assert storage.resolve(root, "") == ""
    assert storage.resolve_all(root, ["a.npy", "b.npy"]) == [
        "s3://bucket/data/a.npy",
        "s3://bucket/data/b.npy",
    ]
    assert storage.folder("s3://bucket/data/train.csv") == "s3://bucket/data"
    assert storage.folder("s3://bucket/train.csv?X-Amz-Signature=1") == "s3://bucket"


def test_s3_defaults_keep_what_the_user_set():
    options = storage.with_defaults("s3://b/x", {"config_kwargs": {"read_timeout": 60}})
    assert options["config_kwargs"]["read_timeout"] == 60
    assert options["config_kwargs"]["connect_timeout"] == 5
    assert storage.with_defaults("memory://b/x", None) == {}


# -- manifests ---------------------------------------------------------------


def test_read_frame_reads_as_a_local_csv(s3, tmp_path):
    frame = storage.read_frame(url("train.csv"), s3["options"])
    local = tmp_path / "train.csv"
    local.write_bytes(s3["objects"]["train.csv"])
    pd.testing.assert_frame_equal(frame, _read_frame(str(local))[0])
    assert list(frame.columns) == ["id", "label", "path"]
    assert frame["path"].tolist()[0] == "data/a/0.npy"


def test_read_frame_detects_the_delimiter(s3):
    frame = storage.read_frame(url("semicolon.csv"), s3["options"])
    assert list(frame.columns) == ["id", "path", "value"]
    assert frame["value"].tolist() == ["0,5", "1,5"]


def test_read_frame_of_a_missing_object_names_it(s3):
    with pytest.raises(FileNotFoundError, match=r"kdataset-test/nope\.csv") as info:
        storage.read_frame(url("nope.csv"), s3["options"])
    assert_no_credentials(info.value)
    with pytest.raises(OSError) as info:
        storage.read_frame(f"s3://{KEY}:{SECRET}@{BUCKET}/nope.csv", s3["options"])
    assert "<redacted>" in str(info.value)
    assert_no_credentials(info.value)


# -- existence, in bulk ------------------------------------------------------


def test_missing_objects_lists_each_folder_once(s3):
    urls = [url(f"data/{f}/{i}.npy") for f in "ab" for i in range(6)]
    urls += [url("data/a/99.npy"), "", url("nowhere/0.npy"), url("data/b/0.npy")]
    requests = Requests(s3["options"])
    missing = storage.missing_objects(urls, s3["options"])
    assert missing == [12, 14]
    # Listings of the 3 folders (data/a, data/b, nowhere; s3fs also lists the parent of
    # a folder that is not there), never a request per URL.
    assert 3 <= len(requests.sent) <= 2 * 3 < len(urls)
    assert all(method == "GET" and "list-type=2" in u for method, u, _ in requests.sent)


def test_missing_objects_in_memory_lists_each_folder_once(monkeypatch):
    prefix = f"memory://kd-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    for i in range(50):
        fs.pipe(f"{prefix[len('memory://') :]}/d{i % 5}/{i}.npy", b"x")
    calls = []
    real_ls = type(fs).ls

    def ls(self, path, *args, **kwargs):
        calls.append(path)
        return real_ls(self, path, *args, **kwargs)

    monkeypatch.setattr(type(fs), "ls", ls)
    urls = [f"{prefix}/d{i % 5}/{i}.npy" for i in range(50)] + [f"{prefix}/d0/x.npy"]
    assert storage.missing_objects(urls) == [50]
    assert len(calls) == 5


# -- loading -------------------------------------------------------------------


def test_remote_npy_loads_the_values(s3):
    loader = storage.RemoteLoader(NpyLoader(), s3["options"])
    assert loader.releases_gil
    np.testing.assert_array_equal(loader(url("data/b/3.npy")), np.full((3, 4), 13, "float32"))
    np.testing.assert_array_equal(
        loader(url("big/fortran.npy")), np.asfortranarray(np.arange(12).reshape(3, 4))
    )
    paths = [url(f"data/{f}/{i}.npy") for f in "ab" for i in range(6)]
    out = np.empty((len(paths), 3, 4), np.float32)
    assert loader.load_many_into(paths, out) == []
    assert out[:, 0, 0].tolist() == [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15]


def test_remote_npy_probe_reads_only_the_header(s3):
    loader = storage.RemoteLoader(NpyLoader(), s3["options"])
    requests = Requests(s3["options"])
    shape, dtype = loader.probe(url("big/wide.npy"))
    assert (shape, dtype) == ((100, 200), np.dtype("float64"))
    gets = [r for r in requests.sent if r[0] == "GET"]
    assert gets, requests.sent
    # Every GET is a ranged read of the first kilobyte, not the 160 kB object.
    for _, _, byte_range in gets:
        assert byte_range is not None
        start, end = (int(v) for v in byte_range.split("=")[1].split("-"))
        assert start == 0 and end < 2048


@pytest.mark.parametrize("name", ["images/x.png", "images/y.jpg"])
def test_remote_images_decode_as_local_ones(s3, tmp_path, name):
    local = tmp_path / os.path.basename(name)
    local.write_bytes(s3["objects"][name])
    for make in (lambda: ImageLoader(), lambda: ImageLoader(image_size=(8, 12))):
        remote = storage.RemoteLoader(make(), s3["options"])
        expected = make()(str(local))
        assert remote.probe(url(name)) == (expected.shape, expected.dtype)
        np.testing.assert_array_equal(remote(url(name)), expected)
        out = np.empty((1, *expected.shape), expected.dtype)
        assert remote.load_many_into([url(name)], out) == []
        np.testing.assert_array_equal(out[0], expected)


def test_a_missing_object_is_a_sample_error_naming_it(s3):
    loader = storage.RemoteLoader(NpyLoader(), s3["options"])
    with pytest.raises(SampleError, match="object not found") as info:
        loader(url("data/a/404.npy"))
    assert info.value.path == url("data/a/404.npy")
    paths = [url("data/a/0.npy"), url("data/a/404.npy"), url("data/a/2.npy"), url("x/405.npy")]
    out = np.empty((4, 3, 4), np.float32)
    failures = loader.load_many_into(paths, out, skip=True)
    assert [(j, e.path) for j, e in failures] == [(1, paths[1]), (3, paths[3])]
    assert out[[0, 2], 0, 0].tolist() == [0, 2]
    assert [j for j, _ in loader.load_many_into(paths, out)] == [1]


def test_an_object_of_another_shape_is_named(s3):
    loader = storage.RemoteLoader(NpyLoader(), s3["options"])
    out = np.empty((2, 3, 4), np.float32)
    failures = loader.load_many_into([url("data/a/0.npy"), url("big/wide.npy")], out)
    assert [j for j, _ in failures] == [1]
    assert "differ from the first sample" in failures[0][1].reason
    assert failures[0][1].path == url("big/wide.npy")


def test_a_server_that_goes_away_mid_epoch_fails_quickly_naming_the_object():
    server, endpoint = _start_server()
    stopped = False
    try:
        _fill_bucket(endpoint)
        loader = storage.RemoteLoader(NpyLoader(), _options(endpoint))
        out = np.empty((2, 3, 4), np.float32)
        assert loader.load_many_into([url("data/a/0.npy"), url("data/a/1.npy")], out) == []
        server.stop()
        stopped = True
        start = time.monotonic()
        failures = loader.load_many_into([url("data/a/2.npy"), url("data/a/3.npy")], out)
        elapsed = time.monotonic() - start
    finally:
        if not stopped:
            server.stop()
    assert elapsed < 30
    assert [j for j, _ in failures] == [0]
    error = failures[0][1]
    assert error.path == url("data/a/2.npy")
    assert "cannot read the object" in str(error)
    assert_no_credentials(error)


def test_a_server_that_never_answers_fails_within_the_timeout():
    # A socket that listens but never answers: connections queue, no byte comes back.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        loader = storage.RemoteLoader(NpyLoader(), _options(endpoint), timeout=2)
        start = time.monotonic()
        with pytest.raises(SampleError, match="no answer from the storage in time") as info:
            loader(url("data/a/0.npy"))
        assert time.monotonic() - start < 15
        assert info.value.path == url("data/a/0.npy")
        assert "`timeout`=2 s" in str(info.value)
    finally:
        silent.close()


# -- credentials -----------------------------------------------------------------


def test_redact_removes_userinfo_signatures_and_secret_values():
    assert storage.redact(f"s3://{KEY}:{SECRET}@bucket/a.npy") == "s3://<redacted>@bucket/a.npy"
    signed = (
        f"https://host/bucket/a.npy?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={KEY}"
        f"&X-Amz-Signature={SIGNATURE}"
    )
    assert storage.redact(f"cannot read '{signed}'") == (
        "cannot read 'https://host/bucket/a.npy?<redacted>'"
    )
    options = {"key": KEY, "secret": SECRET, "client_kwargs": {"endpoint_url": "http://h:1"}}
    assert_no_credentials(storage.redact(f"bad key {KEY} or {SECRET}", options))
    shown = storage.safe_repr_options(options)
    assert_no_credentials(shown)
    assert "http://h:1" in shown
    assert storage.safe_options({"token": {"a": "b"}, "anon": False}) == {
        "token": {"a": "<redacted>"},
        "anon": False,
    }


def test_credentials_never_show(s3, recwarn):
    options = s3["options"]
    loader = storage.RemoteLoader(ImageLoader(), options)
    assert_no_credentials(repr(loader))
    assert "<redacted>" in repr(loader)
    leaky = f"s3://{KEY}:{SECRET}@{BUCKET}/images/missing.png"
    signed = f"s3://{BUCKET}/images/missing.png?X-Amz-Signature={SIGNATURE}"
    messages = []
    for bad in (leaky, signed):
        with pytest.raises(SampleError) as info:
            loader(bad)
        messages.append(str(info.value))
        messages.append(repr(info.value.path))
    with pytest.raises(SampleError) as info:
        storage.RemoteLoader(NpyLoader(), options).probe(f"s3://no-such-bucket-kd/{KEY}.npy")
    messages.append(str(info.value))
    with pytest.raises(OSError) as info:
        storage.read_frame(f"s3://{KEY}:{SECRET}@no-such-bucket-kd/train.csv", options)
    messages.append(str(info.value))
    messages += [str(w.message) for w in recwarn]
    for message in messages:
        assert_no_credentials(message)


def test_the_loader_pickles_with_its_options(s3):
    loader = storage.RemoteLoader(ImageLoader(image_size=(4, 4)), s3["options"], threads=3)
    again = pickle.loads(pickle.dumps(loader))
    assert again.storage_options == s3["options"]
    assert again.threads == 3
    assert repr(again) == repr(loader)
    assert again(url("images/x.png")).shape == (4, 4, 3)


# -- memory://: the generic path, no server ------------------------------------------


@pytest.fixture
def memory():
    """A fresh folder of fsspec's in-memory filesystem: `(url_prefix, fs)`."""
    name = f"kd-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    yield f"memory://{name}", fs
    fs.rm(f"/{name}", recursive=True)


def _read_bytes_len(path):
    with open(path, "rb") as f:
        return np.array([len(f.read())], np.int64)


def test_memory_function_loader_reads_a_local_copy(memory):
    prefix, fs = memory
    fs.pipe(f"{prefix}/t/a.bin", b"12345")
    fs.pipe(f"{prefix}/t/b.bin", b"1234567")
    loader = storage.RemoteLoader(_read_bytes_len, threads=2)
    assert isinstance(loader.loader, FunctionLoader)
    assert loader.probe(f"{prefix}/t/a.bin") == ((1,), np.dtype(np.int64))
    out = np.empty((3, 1), np.int64)
    failures = loader.load_many_into(
        [f"{prefix}/t/a.bin", f"{prefix}/t/b.bin", f"{prefix}/t/c.bin"], out, skip=True
    )
    assert out[:2, 0].tolist() == [5, 7]
    assert [(j, e.path) for j, e in failures] == [(2, f"{prefix}/t/c.bin")]
    assert "object not found" in failures[0][1].reason


def _fails(path):
    raise ValueError(f"cannot parse {path}")


def test_memory_function_errors_name_the_object_not_the_copy(memory):
    prefix, fs = memory
    fs.pipe(f"{prefix}/bad.bin", b"x")
    with pytest.raises(SampleError) as info:
        storage.RemoteLoader(_fails)(f"{prefix}/bad.bin")
    assert info.value.path == f"{prefix}/bad.bin"
    assert f"cannot parse {prefix}/bad.bin" in info.value.reason
    assert "kdataset-" not in str(info.value)


def test_memory_npy_refuses_objects_and_truncation(memory):
    prefix, fs = memory
    fs.pipe(f"{prefix}/objects.npy", _npy(np.array([{"a": 1}], dtype=object)))
    fs.pipe(f"{prefix}/cut.npy", _npy(np.arange(100.0))[:-8])
    fs.pipe(f"{prefix}/text.npy", b"not an array")
    loader = storage.RemoteLoader(NpyLoader())
    with pytest.raises(SampleError, match="never unpickles"):
        loader(f"{prefix}/objects.npy")
    with pytest.raises(SampleError, match="truncated"):
        loader.probe(f"{prefix}/cut.npy")
    with pytest.raises(SampleError, match="truncated"):
        loader(f"{prefix}/cut.npy")
    with pytest.raises(SampleError, match=r"not a readable \.npy"):
        loader.probe(f"{prefix}/text.npy")


def test_memory_local_paths_go_to_the_wrapped_loader(memory, tmp_path):
    prefix, fs = memory
    np.save(tmp_path / "local.npy", np.ones(3, np.float32))
    fs.pipe(f"{prefix}/remote.npy", _npy(np.zeros(3, np.float32)))
    loader = storage.RemoteLoader(NpyLoader())
    out = np.empty((2, 3), np.float32)
    assert loader.load_many_into([str(tmp_path / "local.npy"), f"{prefix}/remote.npy"], out) == []
    assert out.sum(axis=1).tolist() == [3, 0]
    assert loader.probe(str(tmp_path / "local.npy")) == ((3,), np.dtype(np.float32))


def test_memory_read_frame(memory):
    prefix, fs = memory
    fs.pipe(f"{prefix}/tabs.csv", b" id\t path \n007\ta.npy\n")
    frame = storage.read_frame(f"{prefix}/tabs.csv")
    assert list(frame.columns) == ["id", "path"]
    assert frame["id"].tolist() == ["007"]
    fs.pipe(f"{prefix}/empty.csv", b"")
    assert storage.read_frame(f"{prefix}/empty.csv").empty
    fs.pipe(f"{prefix}/broken.csv", b'a,b\n"1,2\n')
    with pytest.raises(ManifestError, match="not a readable CSV"):
        storage.read_frame(f"{prefix}/broken.csv")


def test_arguments_are_checked_up_front():
    with pytest.raises(ValueError, match="`threads`"):
        storage.RemoteLoader(NpyLoader(), threads=0)
    with pytest.raises(ValueError, match="`timeout`"):
        storage.RemoteLoader(NpyLoader(), timeout=-1)
    with pytest.raises(TypeError, match="`loader`"):
        storage.RemoteLoader("npy")
    with pytest.raises(ValueError, match="`storage_options`"):
        storage.RemoteLoader(NpyLoader(), storage_options="key=1")


def test_without_fsspec_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(ImportError, match=r"pip install 'kdataset\[cloud\]'"):
        storage.filesystem("s3://bucket/a.npy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert storage.is_url("s3://bucket/a.npy")  # no import needed to tell


# -- the dataset, end to end ------------------------------------------------


def test_a_dataset_trains_from_a_manifest_in_s3(s3, tmp_path):
    import keras

    import kdataset as kd

    ds = kd.ManifestDataset(
        url("train.csv"), batch_size=4, storage_options=s3["options"], seed=0, label_mode="int"
    )
    assert ds.num_samples == 12 and ds.classes == ["a", "b"]
    x, y = ds[0]
    assert x.shape == (4, 3, 4) and [int(v) >= 10 for v in x[:, 0, 0]] == [
        bool(c) for c in y.tolist()
    ]
    model = keras.Sequential([keras.Input((3, 4)), keras.layers.Flatten(), keras.layers.Dense(2)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(ds, epochs=1, verbose=0)
    cached = kd.ManifestDataset(
        url("train.csv"),
        batch_size=4,
        storage_options=s3["options"],
        cache=tmp_path / "cache.bin",
        shuffle=False,
    )
    first = [x for x, _ in cached]
    again = [x for x, _ in cached]  # from the cache
    assert cached.cache.complete and all((a == b).all() for a, b in zip(first, again))
    for file in tmp_path.iterdir():
        assert_no_credentials(file.read_bytes().decode("latin-1"))
    for shown in (repr(ds), repr(ds.spec), ds.get_state(), repr(ds.loader), ds.manifest.source):
        assert_no_credentials(shown)


def test_a_missing_object_is_named_before_training_with_one_listing_a_folder(s3, tmp_path):
    import kdataset as kd

    frame = storage.read_frame(url("train.csv"), s3["options"])
    frame.loc[3, "path"] = "data/a/missing.npy"
    signed = f"?X-Amz-Signature={SIGNATURE}"
    frame.loc[4, "path"] = url("data/b/gone.npy") + signed
    frame.to_csv(tmp_path / "train.csv", index=False)
    requests = Requests(s3["options"])
    with pytest.raises(kd.ManifestError) as caught:
        kd.ManifestDataset(tmp_path / "train.csv", root_dir=url(""), storage_options=s3["options"])
    text = str(caught.value)
    assert "line 5 of train.csv" in text and "s3://kdataset-test/data/a/missing.npy" in text
    assert "line 6 of train.csv" in text and "object not found" in text
    assert_no_credentials(text)
    listings = [r for r in requests.sent if r[0] == "GET" and "list-type" in r[1]]
    assert len(listings) <= 4 < 12  # a folder or two, never a request per row


def test_a_server_that_goes_away_mid_epoch_stops_training_naming_the_object():
    import kdataset as kd

    server, endpoint = _start_server()
    stopped = False
    try:
        _fill_bucket(endpoint)
        ds = kd.ManifestDataset(
            url("train.csv"),
            batch_size=4,
            storage_options=_options(endpoint),
            shuffle=False,
            max_queue_size=0,
        )
        ds[0]
        server.stop()
        stopped = True
        start = time.monotonic()
        with pytest.raises(kd.SampleError) as caught:
            ds[1]
        elapsed = time.monotonic() - start
    finally:
        if not stopped:
            server.stop()
    assert elapsed < 30
    text = str(caught.value)
    assert "s3://kdataset-test/data/a/4.npy" in text and "line 6 of train.csv" in text
    assert_no_credentials(text)


class FreezableProxy:
    """A TCP proxy to `endpoint` that can freeze as a hung storage server does: once frozen it
    forwards nothing more, on the connections it holds and on new ones (accepted, never
    answered). `close()` drops every connection, which ends the reads still waiting."""

    def __init__(self, endpoint):
        host, port = endpoint.rsplit("//", 1)[1].split(":")
        self.target = (host, int(port))
        self.frozen = threading.Event()
        self._closed = threading.Event()
        self._sockets = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            self._sockets.append(client)
            if self.frozen.is_set():
                continue
            upstream = socket.create_connection(self.target)
            self._sockets.append(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink):
        while True:
            try:
                data = source.recv(65536)
                if self.frozen.is_set():
                    self._closed.wait()
                    return
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                sink.sendall(data)
            except OSError:
                return

    def close(self):
        self._closed.set()
        for sock in [self._listener, *self._sockets]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def test_a_server_that_freezes_mid_epoch_stops_training_within_the_deadline():
    # A load that fails must not wait, to stop training, for loads begun later that the
    # frozen server holds to their own deadline (which made it twice the deadline).
    import kdataset as kd

    deadline = 10.0
    server, endpoint = _start_server()
    proxy = FreezableProxy(endpoint)
    try:
        _fill_bucket(endpoint)
        ds = kd.ManifestDataset(
            url("train.csv"),
            batch_size=2,
            # botocore's read timeout (10 s) past the deadline: the deadline ends a read
            storage_options={**_options(proxy.endpoint), "config_kwargs": {"read_timeout": 60}},
            shuffle=False,
            label_mode="int",
            workers=2,
            max_queue_size=4,
        )
        ds.loader.timeout = deadline  # RemoteLoader's deadline per object (20 s by default)
        frozen_at = []
        # Epochs as `fit` drives them (loading ahead in threads), on every backend alike:
        # under TensorFlow, `fit` would wrap the error in tf.data's own.
        with pytest.raises(kd.SampleError) as caught:
            for _ in range(3):
                for _batch in ds:
                    if not frozen_at:
                        proxy.frozen.set()
                        frozen_at.append(time.monotonic())
        elapsed = time.monotonic() - frozen_at[0]
    finally:
        proxy.close()
        server.stop()
    assert elapsed < deadline * 1.5 + 3, f"training stopped {elapsed:.1f} s after the freeze"
    error = caught.value
    assert error.path in {url(f"data/{f}/{i}.npy") for f in "ab" for i in range(6)}
    assert error.path in str(error) and "line" in str(error)
    assert "no answer from the storage in time" in str(error)
    assert_no_credentials(error)


def test_a_path_like_manifest_that_names_a_url_is_read_through_fsspec():
    import fsspec

    class Place:
        def __fspath__(self):
            return "memory://kdataset-pathlike/m.csv"

    fsspec.filesystem("memory").pipe("/kdataset-pathlike/m.csv", b"id,label\n1,a\n2,b\n")
    from kdataset.io.manifest import Manifest

    rows = Manifest(Place(), id_column="id", label_column="label", require_paths=False)
    assert rows.ids == ["1", "2"]
