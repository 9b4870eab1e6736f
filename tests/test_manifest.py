"""Reading a manifest: paths made absolute, files checked, at millions of rows."""

import os
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kdataset.io.manifest import _absolute
from kdataset.loading.parallel import missing_files

ROOT = "/data/project"


@given(
    st.lists(st.sampled_from(["a", "b.npy", ".", "..", "", ".x"]), min_size=1, max_size=5),
    st.sampled_from(["", "/", "~/", "./", "../"]),
)
def test_paths_resolve_as_os_path_would(segments, start):
    raw = start + "/".join(segments)
    if not raw or raw.endswith("/"):  # "" is an empty path; "x/" a directory, never a file
        raw += "f.npy"
    expected = os.path.normpath(os.path.join(ROOT, os.path.expanduser(raw)))
    assert _absolute([raw, ""], ROOT) == [expected, ""]


@pytest.fixture(params=["c", "python"])
def checker(request, monkeypatch):
    if request.param == "python":
        monkeypatch.setitem(sys.modules, "kdataset.loading._fastread", None)  # import fails
    return request.param


def test_missing_files_are_found_in_every_chunk(tmp_path, checker):
    paths = []
    for i in range(10):
        path = tmp_path / f"{i}.npy"
        if i % 3:
            path.write_bytes(b"x")
        paths.append(str(path))
    paths += ["", str(tmp_path / "sub" / "deep.npy"), str(tmp_path)]

    for chunk in (3, 100):  # several threads, or one call
        assert missing_files(paths, chunk=chunk) == [0, 3, 6, 9, 11]


def test_a_path_with_a_nul_character_is_missing(tmp_path, checker):
    (tmp_path / "a.npy").write_bytes(b"x")
    paths = [str(tmp_path / "a.npy"), str(tmp_path / "b\0.npy")]
    assert missing_files(paths) == [1]


@pytest.mark.parametrize("separator", [";", "\t", "|"])
def test_semicolon_tab_and_bar_separated_files_are_read(tmp_path, separator):
    import kdataset as kd
    from tests.conftest import write_samples

    manifest = write_samples(tmp_path, 4)
    with open(manifest) as f:
        text = f.read()
    with open(manifest, "w") as f:
        f.write(text.replace(",", separator))
    ds = kd.ManifestDataset(manifest, batch_size=4, shuffle=False)
    assert ds.ids == ["0000", "0001", "0002", "0003"] and ds.classes == ["a", "b", "c"]
    assert kd.validate_manifest(manifest) == []


def test_spaces_around_headers_and_cells_are_stripped(tmp_path):
    import kdataset as kd
    from tests.conftest import write_samples

    write_samples(tmp_path, 2)
    (tmp_path / "m.csv").write_text(
        " id , label ,path\n 0000 , cat ,data/0000.npy\n0001,dog , data/0001.npy \n"
    )
    ds = kd.ManifestDataset(tmp_path / "m.csv", batch_size=2, shuffle=False)
    assert ds.ids == ["0000", "0001"] and ds.classes == ["cat", "dog"]


def test_the_dataset_and_its_spec_take_the_same_arguments():
    import dataclasses
    import inspect

    import kdataset as kd
    from kdataset.core.spec import DatasetSpec

    parameters = list(inspect.signature(kd.ManifestDataset.__init__).parameters.values())[2:]
    fields = dataclasses.fields(DatasetSpec)
    assert [(p.name, p.default) for p in parameters] == [(f.name, f.default) for f in fields]
