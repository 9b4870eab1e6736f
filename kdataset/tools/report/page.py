"""The report as one HTML file: its pieces, every text escaped, every picture inline.

The page needs no script, no network and no file beside it: charts are inline
SVG, thumbnails `data:` URIs, the style a `<style>` element.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence

import numpy as np

#: Longest side of a thumbnail, in pixels.
THUMBNAIL = 96

_STYLE = """
:root { color-scheme: light; --ink: #1d2330; --muted: #5b6475; --line: #d9dee7;
  --card: #f6f8fb; --bad: #b42318; --warn: #b54708; --good: #067647; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); margin: 0; background: #fff; }
header { padding: 20px 32px 12px; border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: var(--muted); }
nav { padding: 8px 32px; border-bottom: 1px solid var(--line); position: sticky; top: 0;
  background: #fff; z-index: 1; }
nav a { margin-right: 14px; color: var(--ink); text-decoration: none; font-weight: 500; }
nav a:hover { text-decoration: underline; }
main { padding: 8px 32px 40px; max-width: 1400px; }
section { margin-top: 28px; }
h2 { font-size: 18px; margin: 0 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
p.note { color: var(--muted); margin: 4px 0 10px; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--card); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.path { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px;
  word-break: break-all; max-width: 420px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 10px 14px; min-width: 170px; }
.card b { display: block; font-size: 22px; }
.card.bad b { color: var(--bad); }
.card.good b { color: var(--good); }
figure { margin: 8px 0 16px; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 13px; }
.grid { display: flex; flex-wrap: wrap; gap: 6px; margin-bottom: 6px; }
.thumb { width: 104px; margin: 0; text-align: center; }
.thumb img { width: 96px; height: 96px; object-fit: contain; background: #eef1f5;
  border: 1px solid var(--line); border-radius: 4px; }
.thumb figcaption { font-size: 11px; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.missing { display: inline-block; width: 96px; height: 96px; line-height: 96px;
  background: #eef1f5; color: var(--muted); font-size: 11px; text-align: center; }
.class-row { display: flex; gap: 12px; align-items: flex-start; border-top: 1px solid var(--line);
  padding: 6px 0; }
.class-row .name { width: 150px; flex: none; font-weight: 600; word-break: break-word; }
.class-row .name span { display: block; font-weight: 400; color: var(--muted); font-size: 12px; }
footer { padding: 16px 32px; border-top: 1px solid var(--line); color: var(--muted); }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
"""


def esc(value: object) -> str:
    """Text made safe for HTML, quotes included; `None` is empty."""
    return "" if value is None else html.escape(str(value), quote=True)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    numeric: Sequence[int] = (),
    row_class: str | None = None,
    raw: Sequence[int] = (),
    path: Sequence[int] = (),
) -> str:
    """An HTML table: cells escaped, except the columns in `raw` (HTML already made)."""
    head = "".join(
        f'<th class="num">{esc(h)}</th>' if k in numeric else f"<th>{esc(h)}</th>"
        for k, h in enumerate(headers)
    )
    body = []
    attribute = f' class="{row_class}"' if row_class else ""
    for row in rows:
        cells = []
        for k, value in enumerate(row):
            text = str(value) if k in raw else esc(value)
            kind = ' class="num"' if k in numeric else ' class="path"' if k in path else ""
            cells.append(f"<td{kind}>{text}</td>")
        body.append(f"<tr{attribute}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{body}</section>'


def figure(svg: str, caption: str, kind: str) -> str:
    return f'<figure class="chart" data-chart="{esc(kind)}">{svg}<figcaption>{esc(caption)}</figcaption></figure>'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def card(value: str, label: str, tone: str = "") -> str:
    return f'<div class="card {tone}"><b>{esc(value)}</b>{esc(label)}</div>'


def thumb(uri: str | None, caption: str, title: str) -> str:
    """A thumbnail with a caption, or a grey box saying it could not be drawn."""
    picture = (
        f'<img src="{uri}" alt="{esc(title)}" loading="lazy">'
        if uri
        else '<span class="missing">no preview</span>'
    )
    return f'<figure class="thumb" title="{esc(title)}">{picture}<figcaption>{esc(caption)}</figcaption></figure>'


def document(
    title: str, subtitle: str, links: Sequence[tuple[str, str]], body: str, footer: str
) -> str:
    navigation = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in links)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No request leaves the page: no script, pictures only from data: URIs.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        f"<nav>{navigation}</nav><main>{body}</main><footer>{footer}</footer></body></html>\n"
    )


def image_uri(data: bytes, kind: str, side: int = THUMBNAIL) -> str | None:
    """A `data:` URI of a thumbnail of a file (an image, or a `.npy` array that is one), or
    `None` when it cannot be drawn."""
    from PIL import Image

    try:
        if kind == "npy":
            array = np.load(io.BytesIO(data), allow_pickle=False)
            picture = _array_picture(array)
            if picture is None:
                return None
            image = Image.fromarray(picture)
        else:
            with Image.open(io.BytesIO(data)) as opened:
                if opened.format == "JPEG":
                    opened.draft("RGB", (side, side))
                image = opened.convert(
                    "RGBA" if opened.mode in ("P", "PA", "LA", "RGBA") else "RGB"
                )
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
        factor = side // max(image.size)
        if factor > 1:  # small images shown as sharp pixels, not a browser's blur
            image = image.resize(
                (image.width * factor, image.height * factor), Image.Resampling.NEAREST
            )
        buffer = io.BytesIO()
        if image.mode == "RGBA" or factor > 1:
            image.save(buffer, "PNG", optimize=True)
            mime = "image/png"
        else:
            image.convert("RGB").save(buffer, "JPEG", quality=82)
            mime = "image/jpeg"
    except Exception:  # a corrupt file: the page shows a grey box, the problems say why
        return None
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def _array_picture(array: np.ndarray) -> np.ndarray | None:
    """An array that is a picture (`(h, w)`, `(h, w, 1|3|4)`) stretched to 0..255, else `None`."""
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (3, 4))):
        return None
    if array.dtype.kind not in "biuf" or min(array.shape[:2]) < 2:
        return None
    values = array.astype(np.float64)
    finite = values[np.isfinite(values)]
    if not len(finite):
        return None
    low, high = float(finite.min()), float(finite.max())
    scaled = (np.nan_to_num(values, nan=low) - low) / ((high - low) or 1.0) * 255
    return np.clip(scaled, 0, 255).astype(np.uint8)
