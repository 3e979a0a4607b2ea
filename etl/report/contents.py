"""The audit report: one self-contained HTML file with the audit tables, charts and faces."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from etl.faces.sharpness import ANDROID_BLUR_GATE
from etl.lake.lake import Lake
from etl.lake.query import connect, execute, load_query, query_names, query_title
from etl.report.html import bar_chart_svg, contact_sheet, histogram_svg, img_tag, page, table_html
from etl.report.model import SHOWN_IN_SECTIONS, model_sections

log = logging.getLogger(f"facelake.{__name__}")

WORST_VIDEOS = 6


def build_report(lake: Lake, *, train_id: str | None = None) -> str:
    """The report's HTML; the model section shows `train_id`'s scores, else the model created last.

    Raises:
        UsageError: `train_id` has no scores in the lake.
    """
    connection = connect(lake)
    try:
        model = model_sections(connection, train_id=train_id)  # first: an unknown train_id fails fast
        sections = _charts(connection) + _faces(connection) + model + _audit_tables(connection)
    finally:
        connection.close()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return page(f"facelake audit of {lake.root} ({stamp})", sections)


def _charts(connection) -> list[tuple[str, str]]:
    per_video = execute(connection, load_query("video_detection")).to_pylist()
    with_frames = [r for r in per_video if r["original"]]
    rates = sorted(with_frames, key=lambda r: (r["detect_pct"], r["video_id"]))
    detection = bar_chart_svg(
        [r["video_id"] for r in rates],
        [r["detect_pct"] for r in rates],
        title="Frames with an aligned face, % per video (worst first)",
        max_value=100.0,
    )
    lost = histogram_svg([r["sub"] for r in with_frames], title="Lost frames per video", bins=20)
    storage = execute(
        connection,
        "SELECT table_name || ' ' || partition AS part, sum(size_bytes) / 1e6 AS mb "
        "FROM lake_files GROUP BY ALL ORDER BY part",
    ).to_pylist()
    storage_chart = bar_chart_svg(
        [r["part"] for r in storage],
        [r["mb"] for r in storage],
        title="Bytes on disk per table and partition (MB, current version)",
        value_format="{:.2f}",
    )
    sharpness = execute(connection, load_query("report/sharpness_values"))
    counts = histogram_svg(
        sharpness.column("sharpness_count").to_pylist(),
        title="Android sharpness count per frame",
        marker=ANDROID_BLUR_GATE,
        marker_label=f"gate {ANDROID_BLUR_GATE}",
    )
    lapvar = histogram_svg(sharpness.column("sharpness_lapvar").to_pylist(), title="Laplacian variance per frame")
    return [
        ("Detection per video", detection),
        ("Lost frames", lost),
        ("Storage", storage_chart),
        ("Sharpness", counts + lapvar),
    ]


def _faces(connection) -> list[tuple[str, str]]:
    samples = execute(connection, load_query("report/face_samples")).to_pylist()
    groups: dict[tuple[str, str], list[bytes]] = {}
    for row in samples:
        groups.setdefault((row["label"], row["attack_type"]), []).append(row["aligned"])
    sheets = (
        "".join(
            f"<h3>{label} / {attack}: {len(faces)} faces</h3>"
            + img_tag(contact_sheet(faces), alt=f"aligned faces, {label} {attack}")
            for (label, attack), faces in sorted(groups.items())
        )
        or "<p class='note'>no aligned faces in the lake</p>"
    )

    worst = execute(connection, load_query("report/worst_video_faces"), {"n": WORST_VIDEOS}).to_pylist()
    videos: dict[str, dict] = {}
    for row in worst:
        entry = videos.setdefault(row["video_id"], {"frames": row["frames"], "lost": row["lost"], "faces": []})
        if row["aligned"] is not None:
            entry["faces"].append(row["aligned"])
    strips = (
        "".join(
            f"<h3>{video_id}: lost {v['lost']} of {v['frames']} frames</h3>"
            + img_tag(contact_sheet(v["faces"], columns=12), alt=f"faces kept in {video_id}")
            for video_id, v in videos.items()
        )
        or "<p class='note'>no frames in the lake</p>"
    )
    return [
        ("Aligned faces by label and attack type", sheets),
        (f"The {WORST_VIDEOS} videos that lost the most frames", strips),
    ]


def _audit_tables(connection) -> list[tuple[str, str]]:
    sections = []
    for name in query_names():
        if name in SHOWN_IN_SECTIONS:  # in the model and shortcut sections
            continue
        sql = load_query(name)
        sections.append((f"{name}: {query_title(sql)}", table_html(execute(connection, sql))))
    return sections
