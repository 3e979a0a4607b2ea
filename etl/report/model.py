"""The report's model section: how one scored model does on the lake, and what else could explain its scores.

From the `scores` table (written by `facelake score`): the model's operating figures and its
ROC/DET curves on the test part (frames, and videos as mean frame scores), the calibration
of its P(spoof), then the model queries' tables as they come (error slices, the confident
errors with the worst face of each video as a thumbnail, per-video score spread, label
suspects). The shortcut audit (features that are not liveness) is a section of its own: it
reads frames, not scores, so it shows with or without a model.

The named queries are run by name and their tables rendered from the result's own columns,
so a query that gains a column shows it; a query this facelake lacks, or one that fails, is
a one-line note in its place, never a failed report.
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa

from etl.errors import UsageError
from etl.faces.encode import decode_image
from etl.lake.query import execute, first_line, load_query, query_names, query_parameters, query_title
from etl.report.html import esc, img_tag, png_tag, table_html

log = logging.getLogger(f"facelake.{__name__}")

MODEL_HEADING = "Model"
SHORTCUTS_HEADING = "Shortcuts: what tells attacks from live faces without liveness"
NO_SCORES = (
    "no model scores in the lake: `facelake score --lake LAKE --model DIR` scores its faces with a trained model"
)
CALIBRATION_BINS = 10
CONFIDENT_ERRORS_SHOWN = 20  # rows of confident_errors shown, each with its worst face
PART = "test"  # the part the figures are about: held out by the model's protocol
# the model queries shown in the model section, in this order (the audit tables leave them out)
MODEL_TABLES = (
    ("error_slices", "Error slices"),
    ("calibration", "Calibration table"),
    ("confident_errors", "Confident errors"),
    ("video_score_spread", "Videos whose frames disagree"),
    ("mistaken_labels", "Label suspects: faces and videos the model contradicts"),
)
SHORTCUTS_QUERY = "shortcuts"
SHOWN_IN_SECTIONS = frozenset([name for name, _ in MODEL_TABLES] + [SHORTCUTS_QUERY])


def model_sections(connection, *, train_id: str | None = None) -> list[tuple[str, str]]:
    """The model section (of `train_id`, else the model created last) and the shortcut section.

    Raises:
        UsageError: `train_id` is given but has no scores in the lake.
    """
    models = execute(connection, load_query("report/model_runs")).to_pylist()
    known = [m["train_id"] for m in models]
    if train_id is not None and train_id not in known:
        scored = f"scored models: {', '.join(known)}" if known else "the lake has no scores"
        raise UsageError(f"{train_id!r} has no scores in the lake ({scored})", option="train_id")
    shortcuts = (SHORTCUTS_HEADING, _named_table(connection, SHORTCUTS_QUERY, {}))
    if not models:
        return [(MODEL_HEADING, f"<p class='note' id='model-none'>{esc(NO_SCORES)}</p>"), shortcuts]
    model = next(m for m in models if m["train_id"] == (train_id or known[0]))
    others = [m for m in known if m != model["train_id"]]
    params = {"train_id": model["train_id"], "part": PART}
    parts = [_summary(model, others), *_test_figures(connection, model), _calibration(connection, model)]
    for name, title in MODEL_TABLES:
        if name == "confident_errors":
            parts.append(_confident_errors(connection, params, title))
        else:
            parts.append(f"<h3>{esc(title)}</h3>" + _named_table(connection, name, params))
    body = "".join(f"<div id='model-{i}'>{part}</div>" for i, part in enumerate(parts))
    return [(f"{MODEL_HEADING}: {model['train_id']}", body), shortcuts]


def _summary(model: dict, others: list[str]) -> str:
    counts = ", ".join(f"{part} {model[part]}" for part in ("train", "validation", "test", "unseen"))
    threshold = f"{model['threshold']:.4g}" + (" (several: the largest)" if model["thresholds"] > 1 else "")
    text = (
        f"<p id='model-summary'>Model <b>{esc(model['train_id'])}</b> (protocol {esc(model['protocol'])}, "
        f"{esc(model['model_format'] or 'format unknown')}): {model['faces']} faces scored ({counts}); "
        f"frame threshold {threshold}. Figures are of the <b>{PART}</b> part, the faces its protocol held out: "
        "train and validation faces show what the model learned, not how it generalises.</p>"
    )
    if others:
        text += (
            f"<p class='note'>{len(others)} other scored model(s): {esc(', '.join(others))} "
            "(`facelake report --train-id ID` shows one of them)</p>"
        )
    return text


def _pad_scores(rows: list[dict]):
    from etl.train.metrics import LIVE, PadScores

    return PadScores(
        scores=np.array([r["score"] for r in rows], dtype=np.float64),
        is_attack=np.array([r["label"] == "spoof" for r in rows], dtype=bool),
        attack_types=np.array([LIVE if r["label"] == LIVE else r["attack_type"] or "unknown" for r in rows], dtype=str),
        groups=np.array([r["video_id"] for r in rows], dtype=str),
        media=np.array([r["medium"] for r in rows], dtype=object),
    )


def _test_figures(connection, model: dict) -> list[str]:
    """The operating figures and the ROC/DET of the test part, at frame and video level."""
    from etl.report.figures import roc_det_png
    from etl.train.metrics import LIVE, pad_report, threshold_at_eer, video_level

    query = load_query("report/model_scores")
    rows = execute(connection, query, {"train_id": model["train_id"], "part": PART}).to_pylist()
    live = sum(r["label"] == LIVE for r in rows)
    if not rows or live in (0, len(rows)):
        missing = "no faces" if not rows else ("no attack faces" if live else "no live faces")
        return [f"<p class='note'>the {PART} part holds {missing}: no ROC, DET or error rates</p>"]
    frames = _pad_scores(rows)
    videos = video_level(frames)
    frame_threshold = float(model["threshold"])
    # the video threshold as training chooses it: the EER of the validation videos' mean scores
    validation = execute(connection, query, {"train_id": model["train_id"], "part": "validation"}).to_pylist()
    if validation and 0 < sum(r["label"] == LIVE for r in validation) < len(validation):
        video_threshold = threshold_at_eer(video_level(_pad_scores(validation)))
        video_note = "video threshold: the EER threshold of the validation videos' mean scores"
    else:
        video_threshold = frame_threshold
        video_note = "video threshold: the frame threshold (no validation videos of both classes were scored)"
    reports = {"frames": pad_report(frames, frame_threshold), "videos": pad_report(videos, video_threshold)}
    types = sorted({t for r in reports.values() for t in r.apcer})
    columns: dict[str, list] = {"level": [], "threshold": [], "live": [], "attacks": []}
    for level, r in reports.items():
        columns["level"].append(f"{PART} {level}")
        columns["threshold"].append(r.threshold)
        columns["live"].append(r.n_bona_fide)
        columns["attacks"].append(sum(r.n_attacks.values()))
        for t in types:
            columns.setdefault(f"APCER {t} %", []).append(_pct(r.apcer.get(t)))
        for name, value in (
            ("APCER (max over types) %", r.max_apcer),
            ("APCER pooled %", r.apcer_pooled),
            ("BPCER %", r.bpcer),
            ("ACER %", r.acer),
            ("EER %", r.eer),
            ("AUC %", r.auc),
        ):
            columns.setdefault(name, []).append(_pct(value))
    figures = table_html(pa.table(columns))
    image = roc_det_png(
        {f"{PART} frames": frames, f"{PART} videos": videos},
        thresholds={f"{PART} frames": frame_threshold, f"{PART} videos": video_threshold},
    )
    return [
        f"<h3>Error rates of the {PART} part at the model's thresholds</h3>{figures}"
        f"<p class='note'>APCER: attacks taken for live; BPCER: live faces taken for attacks; ACER = (max APCER + "
        f"BPCER) / 2; EER and AUC need no threshold. Videos: the mean of their frames' scores; {esc(video_note)}.</p>",
        f"<h3>ROC and DET of the {PART} part</h3>" + png_tag(image, alt=f"ROC and DET curves, {PART} part"),
    ]


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def _calibration(connection, model: dict) -> str:
    from etl.report.figures import calibration_png

    params = {"train_id": model["train_id"], "part": PART, "bins": CALIBRATION_BINS}
    bins = execute(connection, load_query("report/model_calibration_bins"), params).to_pylist()
    if not bins:
        return ""
    image = calibration_png(
        [b["bin"] for b in bins],
        [b["mean_score"] for b in bins],
        [b["spoof_rate"] for b in bins],
        [b["faces"] for b in bins],
        bins=CALIBRATION_BINS,
        threshold=float(model["threshold"]),
    )
    return (
        f"<h3>Calibration of P(spoof) on the {PART} part</h3>"
        + png_tag(image, alt=f"calibration of the scores, {PART} part")
        + f"<p class='note'>{CALIBRATION_BINS} equal score bins: a calibrated model's points lie on the diagonal; "
        "points below it mean the model overstates the attack probability, above it understates it.</p>"
    )


def _run_named(connection, name: str, params: dict) -> tuple[pa.Table | None, str, str]:
    """(table or None, the query's title, a note when there is no table)."""
    import duckdb

    if name not in query_names():
        log.info("report: no query %s in this facelake; its table is skipped", name)
        return None, "", f"the query {name} is not in this facelake (queries/{name}.sql): table skipped"
    sql = load_query(name)
    used = set(query_parameters(sql))
    given = {key: value for key, value in params.items() if key in used}
    try:
        return execute(connection, sql, given), query_title(sql), ""
    except (duckdb.Error, ValueError) as error:
        log.warning("report: the query %s failed, its table is skipped: %s", name, first_line(error))
        return None, query_title(sql), f"the query {name} failed: {first_line(error)}"


def _named_table(connection, name: str, params: dict) -> str:
    table, title, note = _run_named(connection, name, params)
    said = f"<p class='note'>{esc(name)}: {esc(title)}</p>" if title else ""
    if table is None:
        return said + f"<p class='note'>{esc(note)}</p>"
    if table.num_rows == 0:
        return said + "<p class='note'>no rows</p>"
    extra = ""
    if "flagged" in table.column_names:
        flagged = sum(bool(v) for v in table.column("flagged").to_pylist())
        extra = f"<p class='note'>{flagged} of {table.num_rows} rows flagged</p>"
    return said + extra + table_html(table, max_rows=200)


def _confident_errors(connection, params: dict, title: str) -> str:
    """The confident_errors table with the worst face of each row as a thumbnail (its aligned face)."""
    table, query_said, note = _run_named(connection, "confident_errors", params)
    head = f"<h3>{esc(title)}</h3>" + (f"<p class='note'>confident_errors: {esc(query_said)}</p>" if query_said else "")
    if table is None:
        return head + f"<p class='note'>{esc(note)}</p>"
    if table.num_rows == 0:
        return head + "<p class='note'>no errors</p>"
    shown = table.slice(0, CONFIDENT_ERRORS_SHOWN).to_pylist()
    keys = [_face_key(row) for row in shown]
    faces = {}
    wanted = sorted({k for k in keys if k})
    if wanted:
        found = execute(connection, load_query("report/face_thumbnails"), {"keys": wanted}).to_pylist()
        faces = {r["face_key"]: r["aligned"] for r in found}
    cells = [
        img_tag(decode_image(faces[key]), alt=f"worst face {key}")
        if key in faces
        else "<span class='note'>no face</span>"
        for key in keys
    ]
    return head + table_html(table, max_rows=CONFIDENT_ERRORS_SHOWN, leading=cells, leading_heading="worst face")


def _face_key(row: dict) -> str | None:
    """A row's face key: a `...face_key` column, else `video_id` with a `...frame_index` column."""
    for name, value in row.items():
        if name.endswith("face_key") and value:
            return str(value)
    index = next((v for n, v in row.items() if n.endswith("frame_index") and v is not None), None)
    if row.get("video_id") and index is not None:
        return f"{row['video_id']}#{index}"
    return None
