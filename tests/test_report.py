"""`kdataset report`: what it finds in a data set with planted problems, and the page it writes,
opened in a real browser."""

import html
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

import kdataset as kd
from kdataset.tools.cli import main
from kdataset.tools.report import duplicates
from kdataset.tools.report.scan import features_of, small_picture

pytest.importorskip("matplotlib")
CLASSES = ("cat", "dog", "bird")


def picture(seed, size=96):
    """A distinct picture: a background and six filled shapes, placed by `seed`."""
    rng = np.random.default_rng(1000 + seed)
    image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = (int(v) for v in rng.integers(0, size - 16, 2))
        w, h = (int(v) for v in rng.integers(10, size * 2 // 3, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x, y, x + w, y + h), fill=colour)
    return image


def planted(root, train=45, val=15):
    """train.csv and val.csv of distinct JPEGs, with planted problems; returns the plan."""
    images = root / "images"
    images.mkdir(parents=True)
    rows = {"train": [], "val": []}
    seed = 0
    for split, n in (("train", train), ("val", val)):
        for j in range(n):
            name = f"{split}{j:03d}"
            picture(seed).save(images / f"{name}.jpg", quality=92)
            rows[split].append((name, CLASSES[seed % 3], f"images/{name}.jpg"))
            seed += 1

    def add(split, name, label, file):
        rows[split].append((name, label, f"images/{file}"))

    # The same bytes twice in train, and in train and val (a leak).
    shutil.copy(images / "train000.jpg", images / "copy_in_train.jpg")
    add("train", "copy_in_train", "cat", "copy_in_train.jpg")
    shutil.copy(images / "train001.jpg", images / "copy_in_val.jpg")
    add("val", "copy_in_val", "dog", "copy_in_val.jpg")
    # Near copies in val: re-encoded, resized to a PNG, cropped by 3 pixels on each side.
    Image.open(images / "train002.jpg").save(images / "reencoded.jpg", quality=55)
    add("val", "reencoded", "bird", "reencoded.jpg")
    Image.open(images / "train003.jpg").resize((64, 64)).save(images / "resized.png")
    add("val", "resized", "cat", "resized.png")
    Image.open(images / "train004.jpg").crop((3, 3, 93, 93)).save(images / "cropped.jpg")
    add("val", "cropped", "dog", "cropped.jpg")
    # A corrupt file and a class of one sample.
    (images / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    add("train", "corrupt", "cat", "corrupt.jpg")
    picture(999).save(images / "rare.jpg", quality=92)
    add("train", "rare", "okapi", "rare.jpg")
    for split, found in rows.items():
        pd.DataFrame(found, columns=["id", "label", "path"]).to_csv(
            root / f"{split}.csv", index=False
        )
    return root / "train.csv", root / "val.csv"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    train, val = planted(root)
    report = kd.write_report(
        [train, val], root / "report.html", loader=kd.ImageLoader(image_size=(64, 64))
    )
    return root, report


def ids(refs):
    return sorted(r.id for r in refs)


def test_every_planted_problem_is_found_and_nothing_else(data):
    _, report = data
    assert report.rows == {"train": 48, "val": 19}
    within = [g for g in report.exact_duplicates if not g.across]
    across = [g for g in report.exact_duplicates if g.across]
    assert [ids(g.samples) for g in within] == [["copy_in_train", "train000"]]
    assert [ids(g.samples) for g in across] == [["copy_in_val", "train001"]]
    assert across[0].splits == ["train", "val"]
    near = sorted((p.first.id, p.second.id) for p in report.near_duplicates)
    assert near == [("train002", "reencoded"), ("train003", "resized"), ("train004", "cropped")]
    assert all(p.difference <= duplicates.MAX_DIFFERENCE for p in report.near_duplicates)
    assert report.problems["val"] == []
    [problem] = report.problems["train"]
    assert problem.id == "corrupt" and problem.line == "line 48 of train.csv"
    assert "not a readable image" in problem.message
    assert report.leaks == 4
    assert report.files == 67 and report.bytes > 0


def test_the_page_holds_the_findings(data):
    root, report = data
    text = (root / "report.html").read_text()
    assert report.path == os.fspath(root / "report.html")
    for anchor in ("summary", "classes", "samples", "images", "files", "problems", "duplicates"):
        assert f'<section id="{anchor}">' in text
    assert text.count('<tr class="problem">') == 1
    assert text.count('<tr class="leak-exact">') == 1
    assert text.count('<tr class="dup-exact">') == 1
    assert text.count('<tr class="leak-near">') == 3
    # The rare class: a bar, a row of thumbnails, the imbalance ratio it makes.
    assert 'data-class="okapi"' in text
    assert (
        "imbalance ratio 23.00 (largest &#x27;cat&#x27;: 23, smallest &#x27;okapi&#x27;: 1)" in text
    )
    for chart in ("classes", "sizes", "file-sizes"):
        assert re.search(rf'data-chart="{chart}"><svg', text), chart
    # Offline: no request leaves the page; every picture is inline.
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", text)
    assert "<script" not in text
    sources = re.findall(r'<img src="([^"]+)"', text)
    assert sources and all(s.startswith("data:image/") for s in sources)


def test_a_report_is_the_same_for_the_same_seed_and_samples_others_for_another(data, tmp_path):
    root, _ = data
    splits = [root / "train.csv", root / "val.csv"]

    def thumbnails(seed):
        kd.write_report(splits, tmp_path / "r.html", seed=seed, thumbnails=2)
        return re.findall(r'class="thumb" title="([^"]+)"', (tmp_path / "r.html").read_text())

    first = thumbnails(0)
    assert thumbnails(0) == first
    assert thumbnails(1) != first


def test_text_from_the_manifest_is_escaped(tmp_path):
    picture(1).save(tmp_path / "a.jpg")
    picture(2).save(tmp_path / "b.jpg")
    frame = pd.DataFrame(
        {
            "id": ["<script>alert(1)</script>", "b"],
            "label": ["<b>x</b>", "y"],
            "path": ["a.jpg", "b.jpg"],
        }
    )
    frame.to_csv(tmp_path / "m.csv", index=False)
    kd.write_report([tmp_path / "m.csv"], tmp_path / "r.html")
    text = (tmp_path / "r.html").read_text()
    assert "<script>" not in text and "<b>x</b>" not in text
    assert html.escape("<script>alert(1)</script>") in text


def test_arrays_show_shapes_and_values(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        np.save(tmp_path / f"{i}.npy", rng.normal(size=(8, 8)).astype(np.float32))
        rows.append((str(i), "a" if i % 2 else "b", f"{i}.npy"))
    np.save(tmp_path / "12.npy", np.zeros((4, 4), np.float32))
    rows.append(("12", "a", "12.npy"))
    shutil.copy(tmp_path / "3.npy", tmp_path / "copy.npy")
    rows.append(("copy", "a", "copy.npy"))
    pd.DataFrame(rows, columns=["id", "label", "path"]).to_csv(tmp_path / "m.csv", index=False)
    report = kd.write_report({"all": tmp_path / "m.csv"}, tmp_path / "r.html")
    text = (tmp_path / "r.html").read_text()
    assert [ids(g.samples) for g in report.exact_duplicates] == [["3", "copy"]]
    assert report.near_duplicates == []
    assert '<section id="arrays">' in text and 'data-chart="values"><svg' in text
    assert '<td>(8, 8)</td><td>float32</td><td class="num">13</td>' in text
    assert '<td>(4, 4)</td><td>float32</td><td class="num">1</td>' in text
    # the 4x4 array differs in shape: a problem of `validate --deep`
    assert [p.id for p in report.problems["all"]] == ["12"]


def test_multi_label_co_occurrence_and_an_unlabelled_split(tmp_path):
    for i in range(6):
        picture(i).save(tmp_path / f"{i}.jpg")
    labels = ["cat|dog", "cat", "dog|bird", "cat|dog", "", "bird"]
    frame = pd.DataFrame(
        {"id": list("012345"), "label": labels, "path": [f"{i}.jpg" for i in range(6)]}
    )
    frame.iloc[:4].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[4:].drop(columns="label").to_csv(tmp_path / "test.csv", index=False)
    report = kd.write_report(
        [tmp_path / "train.csv", tmp_path / "test.csv"], tmp_path / "r.html", label_separator="|"
    )
    text = (tmp_path / "r.html").read_text()
    assert report.rows == {"train": 4, "test": 2}
    assert report.problems == {"train": [], "test": []}
    assert 'data-chart="cooccurrence"><svg' in text
    # cat and dog label two samples together: the matrix cell reads 2
    assert "labels per sample: 1 label: 1, 2 labels: 3" in text
    assert 'data-class="no label"' in text  # the test split's rows
    assert '<td>test</td><td class="num">2</td><td class="num">no labels</td>' in text


def test_near_copies_are_not_look_alikes():
    """Pairs at the thresholds: a crop of 3% is a copy, another picture is not."""
    a = picture(5)
    w, h = a.size
    cropped = a.crop((3, 3, w - 3, h - 3))
    import io

    def data(image, **kwargs):
        buffer = io.BytesIO()
        image.save(buffer, "PNG", **kwargs)
        return buffer.getvalue()

    # The same layout in other colours (channels swapped): a look-alike in grayscale only.
    swapped = Image.fromarray(np.asarray(a)[..., ::-1].copy())
    files = {"a": data(a), "b": data(cropped), "c": data(picture(6)), "d": data(swapped)}
    paths = ["a", "b", "c", "d"]
    pairs = [(0, 1, 0.9), (0, 2, 0.9), (0, 3, 0.9)]
    kept = duplicates.near_copies(pairs, paths, files.__getitem__)
    assert [(x, y) for x, y, _ in kept] == [(0, 1)]
    # Found as candidates: the cropped copy, not the swapped colours nor another picture.
    small = np.stack([small_picture(files[p])[2] for p in paths])
    features, _, colours = features_of(small)
    candidates = duplicates.near_candidates(
        features,
        colours,
        np.array([0, 1, 1, 1], np.int32),
        np.ones(4, bool),
        np.array(paths, "S16"),
    )
    assert [(x, y) for x, y, _ in candidates.pairs] == [(0, 1)]
    height, width, small = small_picture(files["a"])
    assert (height, width, small.shape, small.dtype) == (96, 96, (32, 32, 3), np.uint8)


def test_the_command_writes_the_page_and_names_what_it_found(data, tmp_path, capsys):
    root, _ = data
    output = tmp_path / "out" / "page.html"
    code = main(
        [
            "report",
            str(root / "train.csv"),
            str(root / "val.csv"),
            "-o",
            str(output),
            "--image-size",
            "64",
            "64",
            "--thumbnails",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert (
        "1 problem; the same file twice: 1 group within a split, 1 across splits (leaks); "
        "3 near copies across splits (leaks)" in out
    )
    assert f"written to {output}" in out
    text = output.read_text()
    assert "kdataset report " in text and "--image-size 64 64" in text  # the command
    assert oct(os.stat(output).st_mode & 0o777) != oct(0o600)


def test_the_command_refuses_to_overwrite_a_manifest_and_names_a_missing_column(data, capsys):
    root, _ = data
    train = str(root / "train.csv")
    assert main(["report", train, "-o", train]) == 1
    assert "refusing to overwrite the manifest" in capsys.readouterr().err
    assert main(["report", train, "--id-column", "name", "-o", os.devnull]) == 1
    err = capsys.readouterr().err
    assert "kdataset report: error:" in err and "'name'" in err and "--id-column" in err


def test_without_matplotlib_the_error_says_what_to_install(data, tmp_path, monkeypatch):
    root, _ = data
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "kdataset\[report\]"'):
        kd.write_report([root / "val.csv"], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


# -- in a real browser -------------------------------------------------------------


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("KDATASET_REQUIRE_BROWSER"):
        pytest.fail("no chromium to open the report in: .ci/run installs Debian's chromium")
    pytest.skip("no chromium installed (apt-get install chromium); .ci/run installs it")


def test_the_page_renders_in_chromium_with_no_console_error(data, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    executable = _chromium()
    root, _ = data
    messages = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
            page.on(
                "request",
                lambda r: (
                    r.url.startswith("file:")
                    or r.url.startswith("data:")
                    or messages.append(f"request: {r.url}")
                ),
            )
            page.goto((root / "report.html").as_uri())
            # Every picture decodes (lazy ones loaded now); a broken one rejects.
            broken = page.evaluate(
                """async () => {
                    const broken = [];
                    for (const img of document.images) {
                        img.loading = "eager";
                        try { await img.decode(); } catch (e) { broken.push(img.alt); }
                    }
                    return broken;
                }"""
            )
            charts = page.evaluate(
                """() => [...document.querySelectorAll("figure.chart svg")].map(svg => {
                    const box = svg.getBoundingClientRect();
                    return [svg.closest("figure").dataset.chart, box.width, box.height,
                            svg.querySelectorAll("path, rect, text, use").length];
                })"""
            )
            rows = {
                kind: page.locator(f"tr.{kind}").count()
                for kind in ("problem", "leak-exact", "leak-near", "dup-exact")
            }
            thumbs = page.locator("#samples figure.thumb img").count()
            leak_pictures = page.locator("tr.leak-near img").count()
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert messages == []
    assert broken == []
    kinds = [c[0] for c in charts]
    assert kinds == ["classes", "sizes", "file-sizes"]
    assert all(width > 300 and height > 150 and parts > 20 for _, width, height, parts in charts)
    assert rows == {"problem": 1, "leak-exact": 1, "leak-near": 3, "dup-exact": 1}
    assert thumbs == 8 * 3 + 1  # eight per class, the rare class's one
    assert leak_pictures == 6  # both pictures of each pair
    with Image.open(shot) as image:
        assert image.width == 1280 and image.height > 2000
        # Not a blank page: the screenshot has the colours of charts and thumbnails.
        assert len(image.convert("RGB").getcolors(1 << 20) or []) > 500


def test_console_errors_would_be_caught(tmp_path):
    """The browser check itself: a page that breaks the offline rule is caught."""
    playwright = pytest.importorskip("playwright.sync_api")
    executable = _chromium()
    text = (
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; img-src data:\"></head><body>"
        '<img src="https://example.com/x.png"></body></html>'
    )
    (tmp_path / "bad.html").write_text(text)
    messages = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: messages.append(m.text))
            page.goto((tmp_path / "bad.html").as_uri())
            page.wait_for_timeout(200)
        finally:
            browser.close()
    assert any("Content Security Policy" in m for m in messages)


def test_the_command_runs_where_no_backend_is_imported(data, tmp_path):
    root, _ = data
    code = (
        "import sys; from kdataset.tools.cli import main; "
        f"code = main(['report', {str(root / 'val.csv')!r}, '-o', {str(tmp_path / 'r.html')!r}]); "
        "assert not {'keras', 'jax', 'tensorflow', 'torch'} & set(sys.modules), sorted(sys.modules); "
        "sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_splits_in_object_storage_are_read_through_fsspec(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    import io

    fs = fsspec.filesystem("memory")
    for i in range(4):
        buffer = io.BytesIO()
        picture(i).save(buffer, "JPEG")
        fs.pipe(f"/kd-report/img/{i}.jpg", buffer.getvalue())
    fs.pipe("/kd-report/img/copy.jpg", fs.cat("/kd-report/img/0.jpg"))
    fs.pipe("/kd-report/train.csv", b"id,label,path\n0,a,img/0.jpg\n1,b,img/1.jpg\n2,a,img/2.jpg\n")
    fs.pipe("/kd-report/val.csv", b"id,label,path\n3,b,img/3.jpg\ncopy,a,img/copy.jpg\n")
    try:
        report = kd.write_report(
            ["memory://kd-report/train.csv", "memory://kd-report/val.csv"], tmp_path / "r.html"
        )
    finally:
        fs.rm("/kd-report", recursive=True)
    assert report.rows == {"train": 3, "val": 2}
    [group] = report.exact_duplicates
    assert [(s.split, s.id, s.path) for s in group.samples] == [
        ("train", "0", "memory://kd-report/img/0.jpg"),
        ("val", "copy", "memory://kd-report/img/copy.jpg"),
    ]
    text = (tmp_path / "r.html").read_text()
    assert text.count('<tr class="leak-exact">') == 1 and "data:image/" in text


def test_progress_bars_count_every_file_read(data, tmp_path, monkeypatch):
    import rich.progress

    tasks = {}

    class Recorder:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def add_task(self, description, total):
            tasks[description] = [total, 0]
            return description

        def update(self, task, advance):
            tasks[task][1] += advance

    monkeypatch.setattr(rich.progress, "Progress", Recorder)
    root, _ = data
    kd.write_report([root / "train.csv", root / "val.csv"], tmp_path / "r.html", progress=True)
    assert tasks["Reading files"] == [67, 67]
    assert tasks["Loading samples"][0] == tasks["Loading samples"][1]  # validate --deep's
    total, done = tasks["Comparing look-alikes"]
    assert total == done >= 3


def test_a_class_absent_from_a_split_is_named_and_not_its_smallest(data):
    root, _ = data
    text = (root / "report.html").read_text()
    rows = re.findall(r'<tr class="split-classes">(.*?)</tr>', text)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]
    # okapi, the rare class, is in train only: val's smallest class is one it has.
    assert cells[1][0] == "val" and cells[1][1] == "3"
    assert cells[1][4] != "okapi" and cells[1][5] == "okapi"
    assert cells[0][0] == "train" and cells[0][4] == "okapi" and cells[0][5] == ""
