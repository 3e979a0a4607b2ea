"""`facelake report`: one self-contained HTML file that a real headless Chromium renders
with every image loaded and no console error; with model scores in the lake, a model section
whose figures and tables agree with the scores written."""

from __future__ import annotations

import html as html_module
import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from jobs import report

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]
NEW_MODEL, OLD_MODEL = "run-new/P1", "run-old/P1"
THRESHOLD = 0.4975  # no score written below equals it


@pytest.fixture(scope="module")
def report_file(clean_ingest, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert report.main(["--lake", str(clean_ingest.lake), "--out", str(out)]) == 0
    return out


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed here (apt-get install chromium)")
    return path


def render(page, profile) -> subprocess.CompletedProcess:
    """The page rendered by headless Chromium (`--dump-dom`): its DOM after the load event."""
    browser = chromium()
    result = subprocess.run(
        [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def assert_every_image_loads(page, profile) -> int:
    result = render(page, profile)
    images = len(re.findall(r"<img ", page.read_text()))
    assert f'data-images="{images}/{images}"' in result.stdout
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line]
    assert console == []
    return images


def test_report_holds_every_section_and_only_inline_images(report_file, sample):
    html = report_file.read_text()
    for heading in (
        "Detection per video",
        "Lost frames",
        "Storage",
        "Sharpness",
        "Aligned faces by label and attack type",
        "videos that lost the most frames",
        "video_detection:",
        "Shortcuts: what tells attacks from live faces",
    ):
        assert heading in html
    sources = re.findall(r"<img [^>]*src='([^']*)'", html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    # one contact sheet per (label, attack type) present in the sample, plus one strip per worst video
    groups = {(v.label, v.attack_type) for v in sample.manifest.videos}
    assert len(sources) == len(groups) + report_module_worst()
    assert "http://" not in html and "https://" not in html  # nothing fetched from outside


def test_report_without_scores_says_so_in_one_line(report_file):
    from etl.report.model import NO_SCORES

    html = report_file.read_text()
    section = re.search(r"<section><h2>Model</h2>(.*?)</section>", html).group(1)
    assert section == f"<p class='note' id='model-none'>{html_module.escape(NO_SCORES)}</p>"
    assert "ROC and DET" not in html and "Calibration" not in html


def report_module_worst() -> int:
    from etl.report.contents import WORST_VIDEOS

    return WORST_VIDEOS


def test_report_renders_in_headless_chromium(report_file, tmp_path):
    assert_every_image_loads(report_file, tmp_path / "profile")


def test_report_refuses_a_non_html_name(clean_ingest, tmp_path, caplog):
    assert report.main(["--lake", str(clean_ingest.lake), "--out", str(tmp_path / "report.pdf")]) == 2
    assert "ending in .html" in caplog.text
    assert not (tmp_path / "report.pdf").exists()


# ------------------------------------------------------------------ the model section, from scores


def made_up_score(row: dict, train_id: str) -> float:
    """A deterministic P(spoof): live faces in [0.05, 0.644], attacks in [0.35, 0.944], so both err."""
    r = ((row["frame_index"] * 37 + (row["subject"] or 0) * 11 + len(row["video_id"]) * 7) % 100) / 100
    if train_id == OLD_MODEL:
        r = 1 - r
    return (0.05 if row["label"] == "live" else 0.35) + 0.6 * r


@pytest.fixture(scope="module")
def scored(clean_ingest, tmp_path_factory):
    """A copy of the clean lake with the scores of two made-up models: train split faces are
    the train part (every fifth frame validation), test split faces the test part."""
    import numpy as np

    from etl.lake.lake import Lake
    from schemas import FRAMES, SCORES

    root = tmp_path_factory.mktemp("lake-scored") / "lake"
    shutil.copytree(clean_ingest.lake, root)
    lake = Lake.open(str(root))
    columns = ["video_id", "frame_index", "split", "label", "attack_type", "subject", "sensor", "medium", "session"]
    frames = lake.read(FRAMES, columns=columns + ["det_status", "run_id"], filters=[("det_status", "=", "ok")])
    frames = frames.to_pylist()
    written = {}
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for age, train_id in enumerate((OLD_MODEL, NEW_MODEL)):
        rows = []
        for f in frames:
            score = float(np.float32(made_up_score(f, train_id)))
            part = "test" if f["split"] == "test" else ("validation" if f["frame_index"] % 5 == 0 else "train")
            rows.append(
                {
                    **{c: f[c] for c in columns},
                    "train_id": train_id,
                    "protocol": "P1",
                    "face_key": f"{f['video_id']}#{f['frame_index']}",
                    "part": part,
                    "score": score,
                    "threshold": THRESHOLD,
                    "decision": "spoof" if score >= THRESHOLD else "live",
                    "model_format": "keras",
                    "frames_run_id": f["run_id"],
                    "run_id": f"score-{age}",
                    "created_at": start + timedelta(days=age),
                }
            )
        table = pa.Table.from_pylist(rows, schema=SCORES.schema)
        lake.replace_where(SCORES, table, predicate=f"train_id = '{train_id}'")
        written[train_id] = rows
    out = root.parent / "report.html"
    assert report.main(["--lake", str(root), "--out", str(out)]) == 0
    return root, out, written


def section_html(html: str, heading: str) -> str:
    return re.search(rf"<section><h2>{re.escape(heading)}</h2>(.*?)</section>", html, re.S).group(1)


def table_after(html: str, marker: str) -> list[dict[str, str]]:
    """The rows of the first <table> after `marker`, as {header: cell text}."""
    table = re.search(r"<table>(.*?)</table>", html[html.index(marker) :], re.S).group(1)
    heads = [html_module.unescape(h) for h in re.findall(r"<th>(.*?)</th>", table)]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1], re.S):
        cells = [html_module.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
        rows.append(dict(zip(heads, cells)))
    return rows


def shown(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def test_the_model_section_shows_the_latest_model_and_renders_in_chromium(scored, sample, tmp_path):
    root, out, written = scored
    html = out.read_text()
    section = section_html(html, f"Model: {NEW_MODEL}")
    assert OLD_MODEL in section  # named as another scored model, --train-id shows it
    test_rows = [r for r in written[NEW_MODEL] if r["part"] == "test"]
    assert f"{len(written[NEW_MODEL])} faces scored" in section and f"test {len(test_rows)}" in section
    assert "ROC and DET of the test part" in section and "Calibration of P(spoof)" in section
    # every image loads: the report's own (contact sheets, strips) and the model's (ROC/DET, calibration, faces)
    images = assert_every_image_loads(out, tmp_path / "profile")
    groups = {(v.label, v.attack_type) for v in sample.manifest.videos}
    thumbnails = len(re.findall(r"<img alt='worst face ", html))
    assert images == len(groups) + report_module_worst() + 2 + thumbnails


def test_the_operating_figures_are_the_test_part_at_the_models_threshold(scored):
    _, out, written = scored
    test_rows = [r for r in written[NEW_MODEL] if r["part"] == "test"]
    live = [r for r in test_rows if r["label"] == "live"]
    attacks = [r for r in test_rows if r["label"] == "spoof"]
    frames = next(
        r for r in table_after(out.read_text(), "Error rates of the test part") if r["level"] == "test frames"
    )
    assert frames["live"] == str(len(live)) and frames["attacks"] == str(len(attacks))
    bpcer = sum(r["score"] >= THRESHOLD for r in live) / len(live)
    pooled = sum(r["score"] < THRESHOLD for r in attacks) / len(attacks)
    assert frames["BPCER %"] == f"{100 * bpcer:.2f}" and frames["APCER pooled %"] == f"{100 * pooled:.2f}"
    for attack_type in {r["attack_type"] for r in attacks}:
        of_type = [r for r in attacks if r["attack_type"] == attack_type]
        expected = sum(r["score"] < THRESHOLD for r in of_type) / len(of_type)
        assert frames[f"APCER {attack_type} %"] == f"{100 * expected:.2f}"
    assert 0 < bpcer < 1 and 0 < pooled < 1  # the made-up model errs both ways


def test_the_error_slices_shown_are_the_rates_of_the_scores_written(scored):
    from etl.lake.query import QUERIES_DIR

    _, out, written = scored
    html = out.read_text()
    if not (QUERIES_DIR / "error_slices.sql").exists():
        assert "the query error_slices is not in this facelake" in html
        pytest.skip("queries/error_slices.sql is not written yet")
    shown_rows = {(r["dimension"], r["value"]): r for r in table_after(html, "<h3>Error slices</h3>")}
    test_rows = [r for r in written[NEW_MODEL] if r["part"] == "test"]
    expected = {}
    for dimension in ("attack_type", "sensor", "medium", "session", "subject"):
        for value in {r[dimension] for r in test_rows}:
            rows = [r for r in test_rows if r[dimension] == value]
            live = [r for r in rows if r["label"] == "live"]
            attacks = [r for r in rows if r["label"] == "spoof"]
            text = "" if value is None else (f"{value:03d}" if dimension == "subject" else str(value))
            expected[(dimension, text)] = {
                "faces": str(len(rows)),
                "bpcer": shown(sum(r["decision"] == "spoof" for r in live) / len(live) if live else None),
                "apcer": shown(sum(r["decision"] == "live" for r in attacks) / len(attacks) if attacks else None),
            }
    assert set(shown_rows) == set(expected)
    for key, figures in expected.items():
        assert {name: shown_rows[key][name] for name in figures} == figures, key
    assert shown_rows[("attack_type", "live")]["bpcer"] not in ("", "0")  # the slices hold errors


def test_each_confident_error_shown_has_its_worst_face(scored):
    from etl.lake.query import QUERIES_DIR
    from etl.report.model import CONFIDENT_ERRORS_SHOWN

    _, out, written = scored
    html = out.read_text()
    if not (QUERIES_DIR / "confident_errors.sql").exists():
        assert "the query confident_errors is not in this facelake" in html
        pytest.skip("queries/confident_errors.sql is not written yet")
    rows = table_after(html, "<h3>Confident errors</h3>")
    assert 0 < len(rows) <= CONFIDENT_ERRORS_SHOWN
    thumbnails = re.findall(r"<img alt='worst face ([^']*)' src='data:image/png;base64,", html)
    assert len(thumbnails) == len(rows)
    # each thumbnail is a wrongly decided test face of the model shown
    wrong = {
        r["face_key"]
        for r in written[NEW_MODEL]
        if r["part"] == "test" and (r["decision"] == "spoof") != (r["label"] == "spoof")
    }
    assert set(thumbnails) <= wrong


def test_train_id_picks_the_model_and_an_unknown_one_is_refused(scored, tmp_path):
    from etl.errors import UsageError

    root, _, _ = scored
    out = tmp_path / "old.html"
    assert report.main(["--lake", str(root), "--out", str(out), "--train-id", OLD_MODEL]) == 0
    assert f"<h2>Model: {OLD_MODEL}</h2>" in out.read_text()
    missing = tmp_path / "none.html"
    with pytest.raises(UsageError) as refused:  # run_job makes it one line and exit 2
        report.main(["--lake", str(root), "--out", str(missing), "--train-id", "nope/P9"])
    line = refused.value.line(flags=True)
    assert line.startswith("--train-id 'nope/P9' has no scores") and NEW_MODEL in line and OLD_MODEL in line
    assert not missing.exists()
