"""The `kdataset` command, run as a user would: a subprocess on real files."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

import kdataset
import kdataset as kd
from tests.conftest import write_samples
from tests.test_backend import missing_backend_env
from tests.test_cache import small_disk, write_images

KDATASET = os.path.join(os.path.dirname(sys.executable), "kdataset")


def run(*args, cwd=None, env=None):
    return subprocess.run(
        [KDATASET, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def table_rows(output, text):
    """The rows of a printed table that hold `text`."""
    return [line for line in output.splitlines() if "│" in line and text in line]


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"kdataset {kdataset.__version__}"


def test_help_names_every_command():
    result = run("--help")
    assert result.returncode == 0
    for command in ("validate", "stats", "classes", "split", "build", "cache"):
        assert command in result.stdout
    for command in ("validate", "stats", "classes", "split", "build", "cache"):
        sub = run(command, "--help")
        assert sub.returncode == 0 and f"usage: kdataset {command}" in sub.stdout


def test_no_command_prints_help_and_exits_2():
    result = run()
    assert result.returncode == 2
    assert result.stdout == ""
    assert "usage: kdataset" in result.stderr and "validate" in result.stderr


def test_import_does_not_load_keras():
    code = "import sys, kdataset; kdataset.__version__; print('keras' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_validate_clean_manifest_exits_0(tmp_path):
    result = run("validate", write_samples(tmp_path, 5))
    assert result.returncode == 0, result.stderr
    assert "no problems found" in result.stdout


def test_validate_lists_problems_and_exits_1(tmp_path):
    manifest = write_samples(tmp_path, 6)
    frame = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    frame.loc[3, "label"] = ""
    frame.to_csv(manifest, index=False)
    os.remove(tmp_path / "data" / "0005.npy")
    result = run("validate", manifest)
    assert result.returncode == 1
    assert "2 problems" in result.stdout
    assert "line 5 of train.csv" in result.stdout and "empty label" in result.stdout
    assert "0005.npy" in result.stdout and "file not found" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_validate_deep_with_a_template(tmp_path):
    manifest = write_samples(tmp_path, 5)
    np.save(tmp_path / "data" / "0003.npy", np.zeros((2, 2), "float32"))
    shallow = run("validate", manifest, "--path-template", "data/{id}.npy")
    assert shallow.returncode == 0
    deep = run("validate", manifest, "--path-template", "data/{id}.npy", "--deep")
    assert deep.returncode == 1
    assert "line 5 of train.csv" in deep.stdout and "shape (2, 2)" in deep.stdout


def test_validate_with_a_classes_file(tmp_path):
    manifest = write_samples(tmp_path, 6)
    classes = tmp_path / "classes.json"
    kdataset.LabelEncoder(classes=["a", "b"]).save(classes)
    result = run("validate", manifest, "--classes", classes)
    assert result.returncode == 1
    assert "unknown label 'c'" in result.stdout


def test_validate_shows_the_first_rows_and_counts_the_rest(tmp_path):
    manifest = write_samples(tmp_path, 1260)
    frame = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    frame.loc[1, "label"] = ""
    frame.to_csv(manifest, index=False)
    for i in range(3, 1260):
        os.remove(tmp_path / "data" / f"{i:04d}.npy")
    # 1,257 missing files and an empty label, and any hint of the whole manifest's.
    count = len(kdataset.validate_manifest(manifest))
    others = count - 1257
    result = run("validate", manifest)
    assert result.returncode == 1
    assert f"{count:,} problems" in result.stdout
    assert len(table_rows(result.stdout, "empty label")) == 1
    assert len(table_rows(result.stdout, "file not found")) == 20 - others
    hidden = count - 20
    assert (
        f"... and {hidden:,} more problems ({hidden:,} 'file not found'); "
        "pass --all to list every one"
    ) in result.stdout
    assert "problems by kind: 1,257 'file not found', " in result.stdout
    assert "1 'empty label'" in result.stdout
    every = run("validate", manifest, "--all")
    assert every.returncode == 1
    assert len(table_rows(every.stdout, "file not found")) == 1257
    assert "more problems" not in every.stdout


def test_validate_lists_problems_of_the_whole_manifest_first(tmp_path):
    manifest = write_samples(tmp_path, 30)
    frame = pd.read_csv(manifest, dtype=str)
    frame["a"], frame["b"] = "0", "1"
    frame.to_csv(manifest, index=False)
    for i in range(1, 30):
        os.remove(tmp_path / "data" / f"{i:04d}.npy")
    classes = tmp_path / "classes.json"
    kdataset.LabelEncoder(classes=["x", "y"], multi_label=True).save(classes)
    result = run("validate", manifest, "--label-columns", "a,b", "--classes", classes)
    assert result.returncode == 1
    # Found after the files, listed before them: the table shows it by default.
    problem = "`--classes` 'x', 'y' must name"
    assert problem in result.stdout
    assert result.stdout.index(problem) < result.stdout.index("file not found")


def test_validate_problems_name_flags(tmp_path):
    manifest = write_samples(tmp_path, 5)
    result = run("validate", manifest, "--path-template", "data/{name}.npy")
    assert result.returncode == 1
    assert "no column 'name' (a field of `--path-template`)" in result.stdout
    assert "path_template" not in result.stdout


def test_stats_prints_counts_and_imbalance(tmp_path):
    manifest = write_samples(tmp_path, 7, labels=["cat"] * 5 + ["dog"] * 2)
    result = run("stats", manifest)
    assert result.returncode == 0, result.stderr
    assert "cat" in result.stdout and "dog" in result.stdout
    assert "imbalance ratio 2.50" in result.stdout


def test_classes_writes_an_encoder_file_of_the_labels_text(tmp_path):
    manifest = write_samples(tmp_path, 6, labels=[10, 2, 2, 10, 1, 1])
    out = tmp_path / "classes.json"
    result = run("classes", manifest, "-o", out)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["classes"] == ["1", "2", "10"]
    encoder = kdataset.LabelEncoder.load(out)
    assert encoder.classes == ["1", "2", "10"]
    ds = kd.ManifestDataset(
        manifest, batch_size=6, classes=encoder, label_mode="int", shuffle=False
    )
    assert [int(v) for v in ds[0][1]] == [2, 1, 1, 2, 0, 0]


def test_classes_never_overwrites_without_force(tmp_path):
    manifest = write_samples(tmp_path, 3, labels=["b", "a", "c"])
    kept = '{"classes": ["c", "b", "a"]}'
    (tmp_path / "classes.json").write_text(kept)
    result = run("classes", manifest, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "kdataset classes: error: classes.json exists: pass --force to overwrite it, or -o PATH"
    )
    given = run("classes", manifest, "-o", "classes.json", cwd=tmp_path)
    assert given.stderr.strip().endswith("classes.json exists: pass --force to overwrite it")
    assert (tmp_path / "classes.json").read_text() == kept
    forced = run("classes", manifest, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert kdataset.LabelEncoder.load(tmp_path / "classes.json").classes == ["a", "b", "c"]


def test_split_writes_files_and_prints_stats(tmp_path):
    ids = [f"{i:03d}" for i in range(100)]
    labels = ["a"] * 70 + ["b"] * 30
    manifest = write_samples(tmp_path, 100, ids=ids, labels=labels)
    out = tmp_path / "splits"
    result = run(
        "split",
        manifest,
        "--val",
        0.2,
        "--test",
        0.1,
        "--stratify",
        "label",
        "--seed",
        3,
        "--out",
        out,
    )
    assert result.returncode == 0, result.stderr
    parts = {n: pd.read_csv(out / f"{n}.csv", dtype=str) for n in ("train", "val", "test")}
    assert sorted(i for p in parts.values() for i in p["id"]) == ids
    assert len(parts["val"]) == 20 and len(parts["test"]) == 10
    assert parts["val"]["label"].value_counts().to_dict() == {"a": 14, "b": 6}
    assert "train" in result.stdout and "val" in result.stdout and "root_dir" in result.stdout
    again = run(
        "split",
        manifest,
        "--val",
        0.2,
        "--test",
        0.1,
        "--stratify",
        "label",
        "--seed",
        3,
        "--out",
        out,
    )
    assert again.returncode == 1 and "--force" in again.stderr


def test_split_warnings_are_one_line_each(tmp_path):
    manifest = write_samples(tmp_path, 10, labels=["a"] * 8 + ["b", "c"])
    result = run("split", manifest, "--val", 0.2, "--stratify", "label", "--out", tmp_path / "s")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "kdataset split: warning: Stratifying on column 'label': 2 classes are missing from a "
        "split: 'b' has 1 row: 1 in train, 0 in val;"
    )
    assert "SplitWarning" not in result.stderr and "Traceback" not in result.stderr


def test_split_never_overwrites_the_manifest(tmp_path):
    manifest = write_samples(tmp_path, 10)
    os.rename(manifest, tmp_path / "val.csv")
    result = run("split", tmp_path / "val.csv", "--force")
    assert result.returncode == 1
    assert "would overwrite the manifest" in result.stderr
    assert len(pd.read_csv(tmp_path / "val.csv")) == 10


@pytest.mark.parametrize(
    "args,expected",
    [
        (["stats", "missing.csv"], "Manifest file not found"),
        (["stats", "{m}", "--label-column", "species"], "no column 'species'"),
        (["split", "{m}", "--val", "1.5"], "Invalid `--val`: expected a fraction in [0, 1). "),
        (["split", "{m}", "--val", "1.5"], "Received: --val=1.5"),
        (["split", "{m}", "--val", "0.6", "--test", "0.5"], "Received: --val=0.6, --test=0.5"),
        (["stats", "{m}", "--label-column", "species"], "(`--label-column`)"),
        (["split", "{m}", "--group", "patient"], "patient"),
        (["cache", "{m}", "-o", "c", "--image-size", "0", "16"], "Received: --image-size=(0, 16)"),
        (["cache", "{m}", "-o", "c", "--loader", "npy", "--antialias"], "--antialias shape images"),
        (["cache", "{m}", "-o", "c", "--loader", "image"], "not a readable image"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path, args, expected):
    manifest = write_samples(tmp_path, 5)
    result = run(*[a.format(m=manifest) for a in args], cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"kdataset {args[0]}: error:"), result.stderr
    assert expected in lines[0]


COMMANDS = [
    ["validate", "{m}"],
    ["stats", "{m}"],
    ["classes", "{m}", "-o", "{d}/classes.json"],
    ["split", "{m}", "--stratify", "label", "--out", "{d}/splits"],
    ["cache", "{m}", "-o", "{d}/cache/c"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_commands_run_when_the_keras_backend_is_not_installed(tmp_path, args):
    env, _, _ = missing_backend_env(tmp_path)
    manifest = write_samples(tmp_path, 9)
    result = run(*[a.format(m=manifest, d=tmp_path) for a in args], env=env)
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "ModuleNotFoundError" not in output, output
    assert result.returncode == 0, output


def exit_code_and_backends(argv):
    """`"<exit code> [<Keras and backend modules imported>]"` of `kdataset.tools.cli.main(argv)`,
    run in a fresh process."""
    code = (
        "import sys, kdataset.tools.cli\n"
        f"code = kdataset.tools.cli.main({argv!r})\n"
        "print(code, sorted(m for m in ('keras', 'jax', 'tensorflow', 'torch') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_commands_do_not_import_keras(tmp_path, args):
    manifest = write_samples(tmp_path, 9)
    argv = [a.format(m=manifest, d=tmp_path) for a in args]
    assert exit_code_and_backends(argv) == "0 []"


# -- kdataset cache ------------------------------------------------------------------


class CountingImageLoader(kd.ImageLoader):
    """`kd.ImageLoader` (the same repr, so the same cache) counting the images it decodes."""

    decoded = 0

    def decode_into(self, path, data, out=None):
        self.decoded += 1
        return super().decode_into(path, data, out)


def epoch_x(ds):
    return [np.asarray(ds[i][0]) for i in range(len(ds))]


def spoil_all_but_the_first(manifest):
    """Overwrites the start of every image but the first, keeping sizes and times: a
    cache of them stays theirs, and a dataset that read one would fail."""
    folder = os.path.join(os.path.dirname(manifest), "images")
    for name in sorted(os.listdir(folder))[1:]:
        path = os.path.join(folder, name)
        stat = os.stat(path)
        with open(path, "r+b") as f:
            f.write(b"\0" * 16)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def assert_served_from_the_cache(manifest, cache, loader_args, expected):
    """An epoch of `ManifestDataset(manifest, cache=cache)` equals `expected` and reads
    no image (the one read when the dataset is made learns the sample shape)."""
    spoil_all_but_the_first(manifest)
    loader = CountingImageLoader(**loader_args)
    assert repr(loader) == repr(kd.ImageLoader(**loader_args))
    ds = kd.ManifestDataset(
        manifest, path_template="images/{id}.png", loader=loader, cache=cache, **BATCHES
    )
    assert not ds.cache.rebuilt and ds.cache.complete
    made = loader.decoded
    got = epoch_x(ds)
    assert loader.decoded == made == 1
    assert len(got) == len(expected)
    for x, want in zip(got, expected):
        assert x.dtype == want.dtype
        np.testing.assert_array_equal(x, want)


BATCHES = {"batch_size": 16, "shuffle": False, "label_mode": "int"}


def uncached_epoch(manifest, loader_args):
    loader = kd.ImageLoader(**loader_args)
    return epoch_x(
        kd.ManifestDataset(manifest, path_template="images/{id}.png", loader=loader, **BATCHES)
    )


@pytest.mark.parametrize(
    "flags,loader_args",
    [
        ([], {}),
        (["--image-size", "16", "16"], {"image_size": (16, 16)}),
        (
            "--image-size 16 12 --dtype uint8 --crop-to-aspect-ratio --color-mode grayscale "
            "--interpolation area".split(),
            {
                "image_size": (16, 12),
                "dtype": "uint8",
                "crop_to_aspect_ratio": True,
                "color_mode": "grayscale",
                "interpolation": "area",
            },
        ),
    ],
    ids=["as-is", "resized", "uint8-gray-cropped"],
)
def test_cache_fills_what_the_dataset_opens_so_training_reads_no_image(
    tmp_path, flags, loader_args
):
    manifest = write_images(tmp_path, 40)
    expected = uncached_epoch(manifest, loader_args)
    cache = tmp_path / "cache" / "train.kdcache"
    result = run("cache", manifest, "-o", cache, "--path-template", "images/{id}.png", *flags)
    assert result.returncode == 0, result.stderr
    assert f"40 samples of {'x'.join(map(str, expected[0].shape[1:]))}" in result.stdout
    assert "40 written" in result.stdout and "complete" in result.stdout
    assert_served_from_the_cache(manifest, cache, loader_args, expected)


# `kdataset cache` with each image taking 20 ms to decode, as large photos on a slow disk do.
_SLOW_CACHE = """
import sys, time
from kdataset.loading.loaders import ImageLoader
from kdataset.tools.cli import main

decode = ImageLoader.decode_into


def slow(self, path, data, out=None):
    time.sleep(0.02)
    return decode(self, path, data, out)


ImageLoader.decode_into = slow
sys.exit(main(sys.argv[1:]))
"""


def test_cache_killed_part_way_resumes_where_it_stopped(tmp_path):
    manifest = write_images(tmp_path, 300, size=(20, 24))
    loader_args = {"image_size": (16, 16)}
    expected = uncached_epoch(manifest, loader_args)
    cache = tmp_path / "c"
    args = [manifest, "-o", cache, "--path-template", "images/{id}.png", "--image-size", 16, 16]
    slow = subprocess.Popen(
        [sys.executable, "-c", _SLOW_CACHE, "cache", *map(str, args), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 300
        filled = 0
        while not 0 < filled < 300 and time.monotonic() < deadline and slow.poll() is None:
            time.sleep(0.01)
            if os.path.exists(f"{cache}.filled"):
                filled = int(np.count_nonzero(np.fromfile(f"{cache}.filled", np.uint8)))
        assert slow.poll() is None, "the build ended before it could be stopped part-way"
    finally:
        slow.send_signal(signal.SIGKILL)
        slow.communicate()
    assert slow.returncode == -signal.SIGKILL
    flags = np.fromfile(f"{cache}.filled", np.uint8).astype(bool)
    already = int(flags.sum())
    assert 0 < already < 300, already
    # Every sample flagged is there: a kill never leaves a flag on a sample not written.
    data = np.fromfile(cache, np.float32).reshape(300, 16, 16, 3)
    np.testing.assert_array_equal(data[flags], np.concatenate(expected)[flags])

    result = run("cache", *args)
    assert result.returncode == 0, result.stderr
    assert f"resumed: {already:,} of 300 samples were already in the cache" in result.stdout
    assert f"{300 - already:,} written" in result.stdout
    assert_served_from_the_cache(manifest, cache, loader_args, expected)


def test_cache_of_changed_files_or_another_loader_starts_clean(tmp_path):
    manifest = write_images(tmp_path, 10)
    args = ["cache", manifest, "-o", tmp_path / "c", "--path-template", "images/{id}.png"]
    assert run(*args).returncode == 0
    again = run(*args)
    assert "resumed: 10 of 10 samples" in again.stdout and "0 written" in again.stdout
    path = tmp_path / "images" / "0003.png"
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    for result in (run(*args), run(*args, "--image-size", "8", "8")):
        assert result.returncode == 0, result.stderr
        assert "started clean" in result.stdout and "10 written" in result.stdout


def test_cache_names_the_samples_that_do_not_load_and_exits_1(tmp_path):
    manifest = write_images(tmp_path, 10)
    with open(tmp_path / "images" / "0006.png", "wb") as f:
        f.write(b"not a png")
    result = run("cache", manifest, "-o", tmp_path / "c", "--path-template", "images/{id}.png")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("kdataset cache: error: 1 sample did not load and is not in the cache")
    assert "line 8 of images.csv, id '0006'" in line and "0006.png" in line
    assert "9 written" in result.stdout


def test_cache_on_a_disk_too_small_fails_at_once_and_says_how_much_it_needs(tmp_path):
    manifest = write_images(tmp_path, 100, size=(64, 64))
    with small_disk(tmp_path / "disk", size="1m") as disk:
        cache = os.path.join(disk, "c")
        result = run("cache", manifest, "-o", cache, "--path-template", "images/{id}.png")
        left = os.listdir(disk)
    assert result.returncode == 1, result.stderr
    (line,) = result.stderr.strip().splitlines()
    needed = 100 * 64 * 64 * 3 + 100  # uint8 pixels, and a flag per sample
    assert f"No space for the cache {cache!r}: it needs {needed:,} bytes" in line
    assert "1,048,576 bytes (1.0 MB) are free" in line
    assert left == []


def test_validate_reads_images_with_the_image_options_and_counts_problems_by_kind(tmp_path):
    from PIL import Image

    os.makedirs(tmp_path / "images")
    ids = [f"{i:04d}" for i in range(25)]
    for i, sample_id in enumerate(ids):  # 25 sizes
        pixels = np.zeros((10 + i, 12, 3), np.uint8)
        Image.fromarray(pixels).save(tmp_path / "images" / f"{sample_id}.png")
    pd.DataFrame({"id": ids, "label": ["a", "b"] * 12 + ["a"]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    common = ["validate", "m.csv", "--path-template", "images/{id}.png", "--deep"]
    mixed = run(*common, cwd=tmp_path)
    assert mixed.returncode == 1, mixed.stderr
    assert "24 problems in m.csv" in mixed.stdout
    # One kind, whatever each file's size: not "1 '...', 1 '...', 2 in 2 other kinds".
    (more,) = [line for line in mixed.stdout.splitlines() if line.startswith("... and ")]
    assert more.startswith("... and 4 more problems (4 "), more
    assert "the image is NxN (height x width)" in more
    assert "other kinds" not in mixed.stdout and "problems by kind" not in mixed.stdout
    assert "--image-size" in mixed.stdout
    resized = run(*common, "--image-size", "8", "8", "--color-mode", "grayscale", cwd=tmp_path)
    assert resized.returncode == 0, resized.stdout + resized.stderr
    assert "no problems found" in resized.stdout


def test_split_out_notes_relative_paths_only_for_a_manifest_that_has_them(tmp_path):
    with_paths = write_samples(tmp_path, 10)
    noted = run("split", with_paths, "--out", tmp_path / "a")
    assert noted.returncode == 0, noted.stderr
    assert "note: relative paths in the split files" in noted.stdout
    plain = tmp_path / "plain.csv"
    pd.DataFrame({"id": [f"{i:02d}" for i in range(10)], "label": ["a", "b"] * 5}).to_csv(
        plain, index=False
    )
    quiet = run("split", plain, "--out", tmp_path / "b")
    assert quiet.returncode == 0, quiet.stderr
    assert "note:" not in quiet.stdout


# -- object storage: --storage-option against a real S3 server ---------------------------------


@pytest.fixture(scope="module")
def s3_checked():
    """test_storage's S3 server (moto's) and bucket, with access checks on: only the key and
    secret of the IAM user made here may read it."""
    import urllib.request

    import boto3

    from tests.test_storage import BUCKET, _fill_bucket, _start_server

    server, endpoint = _start_server()
    try:
        _fill_bucket(endpoint)
        iam = boto3.client(
            "iam",
            aws_access_key_id="AKIAKDATASETADMIN000",
            aws_secret_access_key="unchecked-until-auth-is-on",
            endpoint_url=endpoint,
            region_name="us-east-1",
        )
        iam.create_user(UserName="reader")
        everything = {"Effect": "Allow", "Action": "*", "Resource": "*"}
        iam.put_user_policy(
            UserName="reader",
            PolicyName="all",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [everything]}),
        )
        access = iam.create_access_key(UserName="reader")["AccessKey"]

        def checks(count):
            # moto's switch (process-wide): after `count` more requests, every one is checked.
            request = urllib.request.Request(
                f"{endpoint}/moto-api/reset-auth",
                data=count.encode(),
                headers={"Content-Type": "text/plain"},
                method="POST",
            )
            urllib.request.urlopen(request, timeout=10).close()

        checks("0")
        try:
            yield {
                "url": f"s3://{BUCKET}/train.csv",
                "endpoint": endpoint,
                "key": access["AccessKeyId"],
                "secret": access["SecretAccessKey"],
            }
        finally:
            checks("inf")
    finally:
        server.stop()


def no_aws_credentials(**extra):
    """The environment without credentials: no AWS_* variable, no ~/.aws files, no instance
    metadata (nothing for botocore to find, so no request leaves without our endpoint)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FSSPEC_"))}
    nowhere = os.path.join(os.path.dirname(__file__), "no-such-aws-file")
    env.update(
        AWS_SHARED_CREDENTIALS_FILE=nowhere,
        AWS_CONFIG_FILE=nowhere,
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra)
    return env


def storage_flags(s3, secret=None):
    return [
        *("--storage-option", f"key={s3['key']}"),
        *("--storage-option", f"secret={secret or s3['secret']}"),
        *("--storage-option", "client_kwargs=" + json.dumps({"endpoint_url": s3["endpoint"]})),
        *("--storage-option", "anon=False"),  # Python's False, not the text 'False' (true)
    ]


@pytest.mark.parametrize("command", ["validate", "cache"])
def test_storage_options_read_a_manifest_and_its_files_in_s3(tmp_path, s3_checked, command):
    extra = ["-o", tmp_path / "train.kdcache"] if command == "cache" else []
    result = run(
        command, s3_checked["url"], *extra, *storage_flags(s3_checked), env=no_aws_credentials()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    if command == "validate":
        assert f"{s3_checked['url']}: no problems found." in result.stdout
    else:
        assert "12 samples of 3x4 float32" in result.stdout and "12 written" in result.stdout


def test_storage_options_missing_or_wrong_fail_in_one_line_that_shows_no_secret(s3_checked):
    # Without options nor credentials: refused before any request (AWS_ENDPOINT_URL keeps even a
    # request on this machine).
    bare = run(
        "validate",
        s3_checked["url"],
        env=no_aws_credentials(AWS_ENDPOINT_URL=s3_checked["endpoint"]),
    )
    assert bare.returncode == 1
    assert bare.stderr.strip() == (
        f"kdataset validate: error: Cannot read the manifest {s3_checked['url']!r}: "
        "NoCredentialsError: Unable to locate credentials"
    )
    wrong_secret = "Wrong/Secret+0123456789abcdefghijklmnopqr"
    wrong = run(
        "validate",
        s3_checked["url"],
        *storage_flags(s3_checked, wrong_secret),
        env=no_aws_credentials(),
    )
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("kdataset validate: error: Cannot read the manifest")
    assert "access denied" in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
    for secret in (wrong_secret, s3_checked["key"]):
        assert secret not in wrong.stdout + wrong.stderr


@pytest.mark.parametrize(
    ("option", "shown"),
    [
        ("novalue", "Received: 'novalue'"),
        ("=AKIAKDATASETFAKEKEY1", "Received: (not shown: it may hold a secret)"),
        ("AKIAKDATASETFAKEKEY1", "Received: (not shown: it may hold a secret)"),
        (
            "client_kwargs={'endpoint_url': 'http://h:9000'}",
            "the value of 'client_kwargs' starts as JSON but does not parse",
        ),
    ],
)
def test_a_malformed_storage_option_is_a_usage_error(tmp_path, option, shown):
    result = run("validate", write_samples(tmp_path, 3), "--storage-option", option)
    assert result.returncode == 2
    (error,) = [line for line in result.stderr.splitlines() if "error:" in line]
    assert error.startswith("kdataset validate: error: argument --storage-option: ")
    assert shown in error
    assert "AKIAKDATASETFAKEKEY1" not in result.stderr


def test_report_reads_s3_with_storage_options_and_the_page_shows_no_secret(tmp_path, s3_checked):
    pytest.importorskip("matplotlib")
    page = tmp_path / "report.html"
    result = run(
        "report",
        s3_checked["url"],
        "-o",
        page,
        *storage_flags(s3_checked),
        env=no_aws_credentials(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "12 rows (train 12); 0 problems" in result.stdout
    text = page.read_text()
    assert "kdataset report s3://" in text and "secret=&lt;redacted&gt;" in text
    for secret in (s3_checked["secret"], s3_checked["key"]):
        assert secret not in text + result.stdout + result.stderr
