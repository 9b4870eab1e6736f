"""`build_manifest` and `kdataset build`: a folder per class, indexed as Keras indexes it."""

import importlib.util
import os
import tempfile
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras.src.utils.dataset_utils import index_directory
from keras.src.utils.image_dataset_utils import ALLOWLIST_FORMATS

import kdataset as kd
from kdataset.tools.build import _IMAGE_FORMATS
from tests.test_cli import exit_code_and_backends, run

_PILLOW_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".gif": "GIF", ".bmp": "BMP"}


def touch(root, name, image=True):
    """Writes `root/name`: a small image (its format from the extension, any case) or text."""
    from PIL import Image

    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    form = _PILLOW_FORMATS.get(os.path.splitext(name)[1].lower())
    if image and form:
        pixels = np.random.default_rng(len(name)).integers(0, 255, (5, 7, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path, format=form)
    else:
        with open(path, "w") as f:
            f.write("not an image\n")
    return path


# Numeric class names ("10" sorts before "2" as text), extensions in mixed case, a nested
# subfolder, a file that is no image, an image outside any class folder, a hidden folder.
TREE = [
    "2/b.JPG",
    "2/a.png",
    "10/z.jpeg",
    "10/deeper/y.Png",
    "10/deeper/x.gif",
    "10/deep-er/w.bmp",
    "cat/c.jpg",
    "cat/sub/d.PNG",
    "cat/sub/inner/e.jpg",  # after cat/sub-2 and cat/sub.3: Keras sorts the walk by path
    "cat/sub-2/f.jpg",
    "cat/sub.3/g.jpg",
    "cat/notes.txt",
    "cat/sub/readme.md",
    "top.jpg",
    ".hidden/e.jpg",
]


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "photos"
    for name in TREE:
        touch(root, name)
    return root


def keras_index(directory, formats=ALLOWLIST_FORMATS, follow_links=False):
    """`(file_paths, labels, class_names)` as `image_dataset_from_directory(shuffle=False)`
    finds them: Keras's own indexing, which needs no TensorFlow."""
    paths, labels, classes = index_directory(
        str(directory),
        labels="inferred",
        formats=formats,
        shuffle=False,
        follow_links=follow_links,
        verbose=False,
    )
    return list(paths), [int(i) for i in labels], list(classes)


def assert_matches_keras(frame, directory, **kwargs):
    paths, labels, classes = keras_index(directory, **kwargs)
    assert frame.attrs["classes"] == classes
    assert [os.path.join(str(directory), i) for i in frame["id"]] == paths
    assert list(frame["label"]) == [classes[i] for i in labels]
    assert [os.path.abspath(p) for p in frame["path"]] == [os.path.abspath(p) for p in paths]
    assert frame["id"].is_unique


def test_rows_and_classes_are_keras_own(photos):
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        frame = kd.build_manifest(photos)
    assert list(frame.columns) == ["id", "label", "path"]
    assert frame.attrs["classes"] == ["10", "2", "cat"]
    assert list(frame["id"]) == [
        "10/z.jpeg",
        "10/deep-er/w.bmp",
        "10/deeper/x.gif",
        "10/deeper/y.Png",
        "2/a.png",
        "2/b.JPG",
        "cat/c.jpg",
        "cat/sub/d.PNG",
        "cat/sub-2/f.jpg",
        "cat/sub.3/g.jpg",
        "cat/sub/inner/e.jpg",
    ]
    assert_matches_keras(frame, photos)


def test_the_default_formats_are_keras_own():
    assert _IMAGE_FORMATS == ALLOWLIST_FORMATS
    result = run("build", "--help")
    assert ",".join(ALLOWLIST_FORMATS) in result.stdout


def test_matches_image_dataset_from_directory_itself(photos):
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("image_dataset_from_directory needs TensorFlow (the tensorflow env has it)")
    import keras

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        frame = kd.build_manifest(photos)
    ds = keras.utils.image_dataset_from_directory(
        str(photos), shuffle=False, image_size=(8, 8), batch_size=2, verbose=False
    )
    assert ds.class_names == frame.attrs["classes"]
    assert ds.file_paths == [os.path.join(str(photos), i) for i in frame["id"]]


# Names that sort around "/" ("a-" and "a." sort before "a/x"), numbers, hidden names; never
# "." or "..", which name folders that are already there.
_NAME = st.text("ab1 0-_.", min_size=1, max_size=3).filter(
    lambda s: s == s.strip() and s.strip(".")
)
_FOLDER = st.text("a-.", min_size=1, max_size=2).filter(lambda s: s.strip("."))
_EXTENSIONS = [".jpg", ".JPG", ".png", ".Png", ".jpeg", ".gif", ".bmp", ".txt", ""]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    classes=st.lists(_NAME, min_size=0, max_size=4, unique=True),
    files=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.lists(_FOLDER, max_size=3),
            _NAME,
            st.sampled_from(_EXTENSIONS),
        ),
        max_size=12,
    ),
)
def test_any_tree_is_indexed_as_keras_indexes_it(classes, files):
    with tempfile.TemporaryDirectory() as root:
        for name in classes:
            os.makedirs(os.path.join(root, name), exist_ok=True)
        for index, folders, stem, extension in files:
            top = classes[index] if index < len(classes) else ""  # "" puts it at the top
            path = os.path.join(root, top, *folders, stem + extension)
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w"):
                    pass
            except OSError:  # a file where a folder is wanted, or the other way round
                continue
        paths, _, keras_classes = keras_index(root)
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            if not paths:
                with pytest.raises(ValueError, match=r"No class folders|No files ending in"):
                    kd.build_manifest(root)
                return
            frame = kd.build_manifest(root)
        assert_matches_keras(frame, root)
        assert keras_classes == frame.attrs["classes"]


@pytest.mark.parametrize("follow_links", [False, True])
def test_symbolic_links_as_keras_follows_them(tmp_path, follow_links):
    root = tmp_path / "photos"
    touch(root, "cat/a.jpg")
    touch(tmp_path, "elsewhere/b.jpg")
    touch(tmp_path, "linked_class/c.png")
    os.symlink(tmp_path / "elsewhere", root / "cat" / "link")
    os.symlink(tmp_path / "linked_class", root / "dog")
    frame = kd.build_manifest(root, follow_links=follow_links)
    assert_matches_keras(frame, root, follow_links=follow_links)
    # A class folder that is a link is a class either way; a linked subfolder only when followed.
    assert frame.attrs["classes"] == ["cat", "dog"]
    assert ("cat/link/b.jpg" in set(frame["id"])) == follow_links


def test_formats(photos):
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        frame = kd.build_manifest(photos, formats=["PNG", ".gif"])
    assert_matches_keras(frame, photos, formats=(".png", ".gif"))
    assert list(frame["id"]) == ["10/deeper/x.gif", "10/deeper/y.Png", "2/a.png", "cat/sub/d.PNG"]
    with pytest.warns(UserWarning, match=r"2 class folders .* hold no file ending in '.txt'"):
        text = kd.build_manifest(photos, formats=".txt")
    assert list(text["id"]) == ["cat/notes.txt"]


@pytest.mark.parametrize("formats", [[], [""], ["."], [3], 3])
def test_invalid_formats(photos, formats):
    with pytest.raises(ValueError, match=r"Invalid `formats`: expected file extensions"):
        kd.build_manifest(photos, formats=formats)


def test_paths_are_relative_to_where_the_manifest_goes(photos, tmp_path, monkeypatch):
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        inside = kd.build_manifest(photos, relative_to=photos)
        away = kd.build_manifest(photos, relative_to=tmp_path / "a" / "b")
        monkeypatch.chdir(tmp_path)
        here = kd.build_manifest("photos")
    assert list(inside["path"]) == list(inside["id"])
    assert away["path"][0] == "../../photos/10/z.jpeg"
    assert here["path"][0] == "photos/10/z.jpeg"
    assert list(inside["id"]) == list(away["id"]) == list(here["id"])


def test_a_frame_loads_with_keras_class_indices(tmp_path, monkeypatch):
    root = tmp_path / "digits"
    for i, name in enumerate(["1", "10", "2", "1", "10", "2", "2"]):
        touch(root, f"{name}/{i}.png")
    monkeypatch.chdir(tmp_path)
    frame = kd.build_manifest("digits")
    _, labels, classes = keras_index("digits")
    assert classes == ["1", "10", "2"]
    ds = kd.ManifestDataset(
        frame,
        batch_size=3,
        loader=kd.ImageLoader(image_size=(8, 8)),
        classes=frame.attrs["classes"],
        label_mode="int",
        shuffle=False,
    )
    assert ds.classes == classes
    assert [int(v) for _, y in ds for v in y] == labels
    # Without `classes`, kdataset sorts numbers as numbers: other indices than Keras's.
    resorted = kd.ManifestDataset(frame, batch_size=3, loader=kd.ImageLoader(image_size=(8, 8)))
    assert resorted.classes == ["1", "2", "10"]


def test_an_empty_class_folder_stays_a_class(tmp_path):
    root = tmp_path / "photos"
    touch(root, "a/1.jpg")
    touch(root, "c/2.jpg")
    touch(root, "b/notes.txt")
    with pytest.warns(
        UserWarning, match=r"^1 class folder of .* holds no file ending in .*: 'b'\."
    ):
        frame = kd.build_manifest(root)
    assert frame.attrs["classes"] == keras_index(root)[2] == ["a", "b", "c"]
    assert list(frame["label"]) == ["a", "c"]


def test_files_outside_class_folders_are_left_out_with_a_warning(photos):
    with pytest.warns(UserWarning, match=r"1 file directly in .* is left out.*: 'top.jpg'$"):
        frame = kd.build_manifest(photos)
    assert "top.jpg" not in " ".join(frame["path"])


@pytest.mark.parametrize(
    "make,error,message",
    [
        (lambda d: d / "missing", FileNotFoundError, r"Directory not found: '.*missing' \(looked"),
        (
            lambda d: touch(d, "file.jpg"),
            NotADirectoryError,
            r"Invalid `directory`: expected a folder with one subfolder per class",
        ),
        (
            lambda d: [touch(d, "flat/a.jpg"), touch(d, "flat/b.png")] and d / "flat",
            ValueError,
            r"No class folders in '.*flat': .* it holds 2 such files directly",
        ),
        (
            lambda d: touch(d, "texts/a/1.txt") and d / "texts",
            ValueError,
            r"No files ending in '.bmp', '.gif', '.jpeg', '.jpg', '.png' \(in any case\) in the "
            r"1 class folder of '.*texts' \('a'\)",
        ),
        (
            lambda d: touch(d, "padded/ cat/1.jpg") and d / "padded",
            ValueError,
            r"Class folders of '.*padded' with spaces around their names: ' cat'",
        ),
    ],
    ids=["missing", "a-file", "no-class-folders", "no-images", "padded-name"],
)
def test_errors(tmp_path, make, error, message):
    with pytest.raises(error, match=message):
        kd.build_manifest(make(tmp_path))


def test_invalid_directory_type():
    with pytest.raises(TypeError, match=r"Invalid `directory`: expected the path of a folder"):
        kd.build_manifest(3)


# -- the command ---------------------------------------------------------------------


def test_command_builds_a_manifest_that_loads(photos, tmp_path):
    result = run("build", "photos", "-o", "out/manifest.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = tmp_path / "out" / "manifest.csv"
    classes_file = tmp_path / "out" / "manifest.classes.json"
    _, labels, classes = keras_index(photos)
    assert kd.LabelEncoder.load(classes_file).classes == classes
    frame = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    assert frame["path"].iloc[0] == "../photos/10/z.jpeg"
    rows = [line for line in result.stdout.splitlines() if "│" in line]
    cells = [[cell.strip() for cell in row.split("│")[1:4]] for row in rows]
    assert cells == [["0", "10", "4"], ["1", "2", "2"], ["2", "cat", "5"]]
    assert "11 files in 3 classes written to out/manifest.csv" in result.stdout
    assert "classes=kd.LabelEncoder.load('out/manifest.classes.json')" in result.stdout
    assert (
        "next: kdataset validate out/manifest.csv --classes out/manifest.classes.json"
        in result.stdout
    )
    assert result.stderr.strip() == (
        "kdataset build: warning: 1 file directly in 'photos', in no class folder, is left "
        "out, as `keras.utils.image_dataset_from_directory` leaves it out: 'top.jpg'"
    )
    ds = kd.ManifestDataset(
        manifest,
        batch_size=2,
        loader=kd.ImageLoader(image_size=(8, 8)),
        classes=kd.LabelEncoder.load(classes_file),
        label_mode="int",
        shuffle=False,
    )
    assert ds.classes == classes
    batches = list(ds)
    assert [int(v) for _, y in batches for v in y] == labels
    assert batches[0][0].shape == (2, 8, 8, 3)
    hinted = run(
        "validate", "out/manifest.csv", "--classes", "out/manifest.classes.json", cwd=tmp_path
    )
    assert hinted.returncode == 0 and "no problems found" in hinted.stdout, hinted.stdout


def test_command_says_when_kdataset_would_sort_the_classes_otherwise(tmp_path):
    for name in ["1/a.png", "10/b.png", "2/c.png"]:
        touch(tmp_path / "digits", name)
    result = run("build", "digits", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "without it kdataset sorts these numerically (1, 2, 10)" in result.stdout
    assert kd.LabelEncoder.load(tmp_path / "classes.json").classes == ["1", "10", "2"]
    by_default = kd.ManifestDataset(tmp_path / "manifest.csv", loader=kd.ImageLoader((8, 8)))
    assert by_default.classes == [1, 2, 10]


def test_command_warns_of_an_empty_class_in_one_line(tmp_path):
    touch(tmp_path / "photos", "a/1.jpg")
    os.makedirs(tmp_path / "photos" / "b")
    result = run("build", "photos", "-o", "m.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "kdataset build: warning: 1 class folder of 'photos' holds no file ending in "
    )
    assert lines[0].endswith(
        ": 'b'. It stays a class with no rows, as in `keras.utils.image_dataset_from_directory`"
    )
    assert kd.LabelEncoder.load(tmp_path / "m.classes.json").classes == ["a", "b"]


def test_command_never_overwrites_without_force(photos, tmp_path):
    assert run("build", "photos", "-o", "m.csv", cwd=tmp_path).returncode == 0
    before = (tmp_path / "m.csv").read_text()
    touch(photos, "cat/new.jpg")
    again = run("build", "photos", "-o", "m.csv", cwd=tmp_path)
    assert again.returncode == 1
    # The user gave -o: the message does not tell them to give it.
    assert (
        again.stderr.strip() == "kdataset build: error: m.csv exists: pass --force to overwrite it"
    )
    assert (tmp_path / "m.csv").read_text() == before
    # The classes file beside it is kept as well.
    (tmp_path / "m.csv").unlink()
    classes = run("build", "photos", "-o", "m.csv", cwd=tmp_path)
    assert classes.stderr.strip() == (
        "kdataset build: error: m.classes.json exists: pass --force to overwrite it"
    )
    assert not (tmp_path / "m.csv").exists()
    forced = run("build", "photos", "-o", "m.csv", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "cat/new.jpg" in (tmp_path / "m.csv").read_text()
    # Without -o, the message says how to write elsewhere.
    assert run("build", "photos", cwd=tmp_path).returncode == 0
    default = run("build", "photos", cwd=tmp_path)
    assert default.stderr.strip() == (
        "kdataset build: error: manifest.csv exists: pass --force to overwrite it, or -o PATH"
    )


def test_command_with_output_writes_classes_beside_it_after_a_default_build(photos, tmp_path):
    assert run("build", "photos", cwd=tmp_path).returncode == 0
    result = run("build", "photos", "-o", "photos.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _, _, classes = keras_index(photos)
    assert kd.LabelEncoder.load(tmp_path / "photos.classes.json").classes == classes
    assert "next: kdataset validate photos.csv --classes photos.classes.json" in result.stdout


def test_command_on_a_missing_folder_says_so_even_where_a_manifest_exists(photos, tmp_path):
    assert run("build", "photos", cwd=tmp_path).returncode == 0
    result = run("build", "missing_dir", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        "kdataset build: error: Directory not found: 'missing_dir'"
    ), result.stderr


@pytest.mark.parametrize(
    "args,expected",
    [
        (["missing"], "Directory not found: 'missing'"),
        (["photos/top.jpg"], "Invalid `directory`: expected a folder with one subfolder"),
        (["photos/2"], "No class folders in 'photos/2': expected one subfolder per class"),
        (["photos/2"], "; it holds 2 such files directly"),
        (["photos", "--formats", ".tif"], "No files ending in '.tif' (in any case) in the 3 "),
        (["photos", "--formats", ".tif"], "pass `--formats` to index other files"),
        (["photos", "--formats", ","], "Invalid `--formats`: expected file extensions"),
    ],
)
def test_command_errors_are_one_line(photos, tmp_path, args, expected):
    result = run("build", *args, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kdataset build: error: "), result.stderr
    assert expected in lines[0]
    assert not (tmp_path / "manifest.csv").exists()


def test_command_does_not_import_keras(photos, tmp_path):
    argv = ["build", str(photos), "-o", str(tmp_path / "m.csv")]
    assert exit_code_and_backends(argv) == "0 []"
