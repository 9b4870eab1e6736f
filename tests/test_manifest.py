"""Reading a manifest: paths made absolute, files checked, at millions of rows."""

import os
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kdataset.manifest import _absolute, _missing_files

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
        monkeypatch.setitem(sys.modules, "kdataset._fastread", None)  # import fails
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
        assert _missing_files(paths, chunk=chunk) == [0, 3, 6, 9, 11]


def test_a_path_with_a_nul_character_is_missing(tmp_path, checker):
    (tmp_path / "a.npy").write_bytes(b"x")
    paths = [str(tmp_path / "a.npy"), str(tmp_path / "b\0.npy")]
    assert _missing_files(paths) == [1]
