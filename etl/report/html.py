"""Self-contained HTML pieces for the audit report: tables, SVG charts, PNG contact sheets.

Everything is inline (SVG elements and `data:` PNG images), so the report is one file
that opens anywhere, offline. No plotting library is needed for bar charts and
histograms; images are composed with OpenCV.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from etl.faces.encode import decode_image, encode_image

BAR_COLOUR = "#3b6ea5"
LOST_COLOUR = "#c0504d"


def esc(value) -> str:
    return html.escape("" if value is None else str(value))


def table_html(
    table: pa.Table, *, max_rows: int = 200, leading: Sequence[str] | None = None, leading_heading: str = ""
) -> str:
    """An HTML table of an Arrow table (bytes shown as sizes, floats to 4 digits).

    `leading`: HTML of a first column (an image per row, say), one per row shown; it is not escaped.
    """

    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        if isinstance(value, bytes):
            return f"&lt;{len(value)} bytes&gt;"
        return esc(value)

    rows = table.slice(0, max_rows).to_pylist()
    if leading is not None and len(leading) != len(rows):
        raise ValueError(f"table_html: {len(leading)} leading cells for {len(rows)} rows shown")
    first = [f"<td>{html_cell}</td>" for html_cell in leading] if leading is not None else [""] * len(rows)
    head = (f"<th>{esc(leading_heading)}</th>" if leading is not None else "") + "".join(
        f"<th>{esc(n)}</th>" for n in table.column_names
    )
    body = "".join(
        "<tr>" + lead + "".join(f"<td>{cell(r[n])}</td>" for n in table.column_names) + "</tr>"
        for lead, r in zip(first, rows)
    )
    more = f"<p class='note'>{table.num_rows - max_rows} more rows not shown</p>" if table.num_rows > max_rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def bar_chart_svg(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    value_format: str = "{:.1f}",
    width: int = 720,
    bar_height: int = 16,
    max_value: float | None = None,
) -> str:
    """A horizontal bar chart as an inline SVG element."""
    top = max_value if max_value is not None else max([v for v in values if v is not None] + [1e-9])
    label_width, gap = 260, 4
    height = 24 + len(labels) * (bar_height + gap)
    parts = [
        f"<svg role='img' aria-label='{esc(title)}' width='{width}' height='{height}'>",
        f"<text x='0' y='14' font-size='13' font-weight='bold'>{esc(title)}</text>",
    ]
    for i, (label, value) in enumerate(zip(labels, values)):
        y = 24 + i * (bar_height + gap)
        length = 0 if value is None or top <= 0 else (width - label_width - 70) * value / top
        parts.append(
            f"<text x='{label_width - 6}' y='{y + bar_height - 4}' font-size='11' text-anchor='end'>{esc(label)}</text>"
        )
        parts.append(
            f"<rect x='{label_width}' y='{y}' width='{length:.1f}' height='{bar_height}' fill='{BAR_COLOUR}'/>"
        )
        shown = "n/a" if value is None else value_format.format(value)
        parts.append(
            f"<text x='{label_width + length + 4:.1f}' y='{y + bar_height - 4}' font-size='11'>{esc(shown)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def histogram_svg(
    values: Sequence[float],
    *,
    title: str,
    bins: int = 30,
    width: int = 720,
    height: int = 220,
    marker: float | None = None,
    marker_label: str = "",
) -> str:
    """A histogram as an inline SVG element; `marker` draws a vertical line (a threshold)."""
    data = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    parts = [
        f"<svg role='img' aria-label='{esc(title)}' width='{width}' height='{height}'>",
        f"<text x='0' y='14' font-size='13' font-weight='bold'>{esc(title)} (n={data.size})</text>",
    ]
    if data.size:
        low, high = float(data.min()), float(data.max())
        if marker is not None:
            low, high = min(low, marker), max(high, marker)
        if high <= low:
            high = low + 1.0
        counts, edges = np.histogram(data, bins=bins, range=(low, high))
        left, bottom, plot_w, plot_h = 40, height - 24, width - 60, height - 50
        peak = max(int(counts.max()), 1)
        bar_w = plot_w / bins
        for i, count in enumerate(counts):
            h = plot_h * count / peak
            parts.append(
                f"<rect x='{left + i * bar_w:.1f}' y='{bottom - h:.1f}' width='{max(bar_w - 1, 1):.1f}' "
                f"height='{h:.1f}' fill='{BAR_COLOUR}'/>"
            )
        parts.append(f"<text x='{left}' y='{height - 6}' font-size='11'>{low:.4g}</text>")
        parts.append(f"<text x='{left + plot_w}' y='{height - 6}' font-size='11' text-anchor='end'>{high:.4g}</text>")
        parts.append(f"<text x='2' y='{bottom - plot_h + 10}' font-size='11'>{peak}</text>")
        if marker is not None:
            x = left + plot_w * (marker - low) / (high - low)
            parts.append(
                f"<line x1='{x:.1f}' y1='{bottom - plot_h}' x2='{x:.1f}' y2='{bottom}' "
                f"stroke='{LOST_COLOUR}' stroke-width='2'/>"
            )
            near_right = x > left + 0.8 * plot_w  # keep the label inside the chart
            anchor, label_x = ("end", x - 4) if near_right else ("start", x + 4)
            parts.append(
                f"<text x='{label_x:.1f}' y='{bottom - plot_h + 12}' font-size='11' fill='{LOST_COLOUR}' "
                f"text-anchor='{anchor}'>{esc(marker_label)}</text>"
            )
    else:
        parts.append("<text x='0' y='40' font-size='12'>no values</text>")
    parts.append("</svg>")
    return "".join(parts)


def contact_sheet(images: Sequence[bytes], *, columns: int = 12, tile: int = 64) -> np.ndarray | None:
    """Encoded face images tiled into one RGB sheet (None when there is none)."""
    import cv2

    if not images:
        return None
    rows = math.ceil(len(images) / columns)
    sheet = np.full((rows * tile, min(columns, len(images)) * tile, 3), 255, dtype=np.uint8)
    for i, data in enumerate(images):
        face = cv2.resize(decode_image(data), (tile, tile), interpolation=cv2.INTER_AREA)
        r, c = divmod(i, columns)
        sheet[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = face
    return sheet


def img_tag(rgb: np.ndarray | None, *, alt: str) -> str:
    """An <img> with the image inline as a PNG data URI."""
    if rgb is None:
        return f"<p class='note'>{esc(alt)}: no image</p>"
    data = base64.b64encode(encode_image(rgb, "png")).decode("ascii")
    return f"<img alt='{esc(alt)}' src='data:image/png;base64,{data}'>"


def png_tag(png: bytes, *, alt: str) -> str:
    """An <img> of PNG bytes as they are (a matplotlib figure), inline as a data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f"<img alt='{esc(alt)}' src='data:image/png;base64,{data}'>"


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 12px; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; text-align: left; }}
th {{ background: #eee; }}
section {{ margin-bottom: 2em; }}
.note {{ color: #666; font-size: 12px; }}
img {{ image-rendering: auto; display: block; margin: 0.3em 0; }}
</style></head><body>
<h1>{title}</h1>
{body}
<script>
// report self-check: the title says whether every image decoded (used by the tests)
window.addEventListener("load", function () {{
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (i) {{ return i.complete && i.naturalWidth > 0; }}).length;
  document.body.setAttribute("data-images", loaded + "/" + images.length);
}});
</script>
</body></html>
"""


def page(title: str, sections: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<section><h2>{esc(heading)}</h2>{content}</section>" for heading, content in sections)
    return PAGE.format(title=esc(title), body=body)
