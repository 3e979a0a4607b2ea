"""`facelake audit` and `facelake sql` output that programs can parse, through the real CLI.

Every format of both commands runs in a subprocess (`python -m jobs.<job>`) on the shared
clean lake and is parsed whole: `json.loads` of all of stdout, of every jsonl line, and
`csv.DictReader` with a single header. Row counts are checked against counts made with
pyarrow from the Delta tables, floats against values computed directly in Python (equal to
the last bit, not approximately), and every answer against the in-process Arrow result.
Also: readers that leave early (`| head`), help that lists each query's parameters, and a
path without a lake.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from conftest import REPO, subprocess_env, tree_digest

from etl.lake.lake import Lake
from etl.lake.query import declared_parameters, load_query, query_names, query_title, run_query
from jobs.common.cells import json_value
from schemas import FRAMES, RUNS, VIDEOS

# the defaults the query files declare (what an audit without --param uses)
DEFAULTS = {
    "box_disagreement": {"min_iou": 0.5},
    "calibration": {"train_id": None, "part": "test", "bins": 10},
    "confident_errors": {"train_id": None, "part": "test", "n": 20},
    "error_slices": {"train_id": None, "part": "test"},
    "mistaken_labels": {"train_id": None, "min_mistakenness": 0.9, "n": 50},
    "video_score_spread": {"train_id": None, "part": "test", "n": 20},
    "detection_rate_by": {"dimension": "attack_type"},
    "image_bytes_per_row": {"full_frames": 2000000},
    "job_runs": {"job": None},
    "sharpness_distribution": {"gate": 1000},
    "shortcuts": {"flag": 0.8, "p1_frames": 60, "min_videos": 2},
    "video_detection": {"split": None},
    "worst_videos": {"n": 10},
}
EMPTY = "SELECT video_id, frame_index FROM frames WHERE false"
TYPES = "SELECT run_id, started_at, ended_at, error FROM runs ORDER BY started_at"
BLOB = (
    "SELECT video_id, frame_index, aligned FROM frames WHERE aligned IS NOT NULL ORDER BY video_id, frame_index LIMIT 3"
)

# (job, args) of every run the module parses, by a short key; {out} is the module's output folder
RUNS_TO_PARSE = {
    "audit table": ("audit", ["--param", "n=3"]),
    "audit markdown": (
        "audit",
        ["--only", "worst_videos", "video_detection", "--param", "n=3", "--format", "markdown"],
    ),
    "audit json": ("audit", ["--format", "json"]),
    "audit jsonl": ("audit", ["--format", "jsonl"]),
    "audit csv out": ("audit", ["--format", "csv", "--out", "{out}/audit-csv"]),
    "audit csv one": ("audit", ["--only", "worst_videos", "--param", "n=1000", "--format", "csv"]),
    "sql json": ("sql", ["--query", "worst_videos", "--param", "n=1000", "--format", "json"]),
    "sql jsonl": ("sql", ["--query", "worst_videos", "--param", "n=1000", "--format", "jsonl"]),
    "sql csv": ("sql", ["--query", "worst_videos", "--param", "n=1000", "--format", "csv"]),
    "sql rates json": ("sql", ["--query", "detection_rate_by", "--param", "dimension=label", "--format", "json"]),
    "sql empty json": ("sql", [EMPTY, "--format", "json"]),
    "sql empty jsonl": ("sql", [EMPTY, "--format", "jsonl"]),
    "sql empty csv": ("sql", [EMPTY, "--format", "csv"]),
    "sql types json": ("sql", [TYPES, "--format", "json"]),
    "sql types csv": ("sql", [TYPES, "--format", "csv"]),
    "sql blob json": ("sql", [BLOB, "--format", "json"]),
    "sql blob csv": ("sql", [BLOB, "--format", "csv"]),
}


def _run(job: str, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"jobs.{job}", *args],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def lake_path(clean_ingest) -> Path:
    return clean_ingest.lake


@pytest.fixture(scope="module")
def outputs(lake_path, tmp_path_factory) -> dict:
    """Every run of RUNS_TO_PARSE (two at a time), checked to exit 0 without a traceback; the lake unchanged."""
    out = tmp_path_factory.mktemp("cli-formats")
    before = tree_digest(lake_path)

    def run(item):
        job, args = item
        return _run(job, "--lake", str(lake_path), *(arg.format(out=out) for arg in args))

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(RUNS_TO_PARSE, pool.map(run, RUNS_TO_PARSE.values())))
    for key, result in results.items():
        assert result.returncode == 0, f"{key}: exit {result.returncode}: {result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr, f"{key}: {result.stderr[-2000:]}"
    # the audit is read-only: no `runs` row, no file written in the lake (the shared lake would show it)
    assert tree_digest(lake_path) == before
    return {"results": results, "out": out}


def stdout(outputs, key: str) -> str:
    return outputs["results"][key].stdout


@pytest.fixture(scope="module")
def direct(lake_path) -> dict:
    """What the answers must be, from the Delta tables read with pyarrow and plain Python."""
    lake = Lake(str(lake_path))
    frames = lake.read(FRAMES, columns=["video_id", "det_status", "label"]).to_pylist()
    videos = {v["video_id"]: v for v in lake.read(VIDEOS).to_pylist()}
    per_video = Counter(f["video_id"] for f in frames)
    ok = Counter(f["video_id"] for f in frames if f["det_status"] == "ok")
    worst = sorted(per_video, key=lambda v: (-(per_video[v] - ok[v]), v))
    labels = Counter(f["label"] for f in frames)
    labels_ok = Counter(f["label"] for f in frames if f["det_status"] == "ok")
    return {
        "lake": lake,
        "videos": videos,
        "worst": [
            {
                "video_id": v,
                "frames": per_video[v],
                "ok": ok[v],
                "lost": per_video[v] - ok[v],
                "lost_share": (per_video[v] - ok[v]) / per_video[v],
            }
            for v in worst
        ],
        "rates": {label: labels_ok[label] / n for label, n in labels.items()},
        "runs": lake.read(RUNS).to_pylist(),
        "answers": {name: run_query(lake, load_query(name)) for name in query_names()},
    }


def exact_rows(table) -> list[dict]:
    """An Arrow result as the JSON values the CLI must print (floats unrounded)."""
    return [{name: json_value(value) for name, value in row.items()} for row in table.to_pylist()]


def unrounded(values):
    """For comparing answers of two DuckDB runs: an aggregate over parallel partial sums (avg, stddev)
    may differ in its last bit from run to run, so floats agree to 1e-12 here (far beyond any
    rounding for display); exact equality is checked on divisions computed directly (check_worst)."""
    if isinstance(values, float):
        return pytest.approx(values, rel=1e-12, abs=0)
    if isinstance(values, dict):
        return {key: unrounded(value) for key, value in values.items()}
    return values


def check_worst(rows: list[dict], direct: dict, parse=lambda value: value) -> None:
    assert len(rows) == len(direct["worst"]) > 10  # every video with frames: n=1000 listed them all
    for row, want in zip(rows, direct["worst"]):
        assert row["video_id"] == want["video_id"]
        for column in ("frames", "ok", "lost"):
            assert int(parse(row[column])) == want[column]
        assert float(parse(row["lost_share"])) == want["lost_share"]  # to the last bit


def csv_table(text: str) -> tuple[list[str], list[dict]]:
    """(header, rows) of one CSV table; fails on a second header or a blank line."""
    lines = text.splitlines()
    assert all(line.strip() for line in lines), "a blank line inside the CSV"
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    assert all(None not in row and None not in row.values() for row in rows), "a row of another width"
    assert all(list(row.values()) != reader.fieldnames for row in rows), "a second header line"
    return reader.fieldnames, rows


def csv_matches(cell: str, value) -> bool:
    """Whether a CSV cell is the exact text of a JSON value (see jobs/common/cells.py)."""
    if value is None:
        return cell == ""
    if isinstance(value, bool):
        return cell == ("true" if value else "false")
    if isinstance(value, float):
        return float(cell) == unrounded(value)
    if isinstance(value, (list, dict)):
        return json.loads(cell) == value
    return cell == str(value)


# ---------------------------------------------------------------- facelake sql


def test_sql_json_is_one_array_of_rows_at_full_precision(outputs, direct):
    rows = json.loads(stdout(outputs, "sql json"))
    assert isinstance(rows, list) and all(isinstance(row, dict) for row in rows)
    check_worst(rows, direct)
    assert rows == exact_rows(run_query(direct["lake"], load_query("worst_videos"), {"n": 1000}))
    rates = {row["value"]: row["rate"] for row in json.loads(stdout(outputs, "sql rates json"))}
    assert rates == direct["rates"] and len(rates) == 2
    assert any(len(repr(rate)) > 8 for rate in rates.values())  # a rate that 4 digits would have rounded


def test_sql_jsonl_is_one_object_per_line(outputs, direct):
    lines = stdout(outputs, "sql jsonl").splitlines()
    rows = [json.loads(line) for line in lines]
    check_worst(rows, direct)
    assert rows == json.loads(stdout(outputs, "sql json"))


def test_sql_csv_is_one_table_at_full_precision(outputs, direct):
    header, rows = csv_table(stdout(outputs, "sql csv"))
    assert header == ["video_id", "split", "label", "attack_type", "frames", "ok", "lost", "lost_share"]
    check_worst(rows, direct)


def test_sql_empty_result(outputs):
    assert stdout(outputs, "sql empty json") == "[]\n"
    assert json.loads(stdout(outputs, "sql empty json")) == []
    assert stdout(outputs, "sql empty jsonl") == ""
    assert stdout(outputs, "sql empty csv") == "video_id,frame_index\n"


def test_sql_timestamps_are_iso_text_and_nulls_null(outputs, direct):
    runs = sorted(direct["runs"], key=lambda r: r["started_at"])
    rows = json.loads(stdout(outputs, "sql types json"))
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in runs] and rows
    for row, run in zip(rows, runs):
        assert datetime.fromisoformat(row["started_at"]) == run["started_at"]
        assert datetime.fromisoformat(row["ended_at"]) == run["ended_at"]
        assert row["error"] is None and run["error"] is None
    header, cells = csv_table(stdout(outputs, "sql types csv"))
    assert header == ["run_id", "started_at", "ended_at", "error"]
    assert [(c["started_at"], c["error"]) for c in cells] == [(r["started_at"], "") for r in rows]


def test_sql_binary_values_are_their_size(outputs, direct):
    blobs = direct["lake"].read(FRAMES, columns=["video_id", "frame_index", "aligned"]).to_pylist()
    blobs = sorted((b for b in blobs if b["aligned"] is not None), key=lambda b: (b["video_id"], b["frame_index"]))[:3]
    want = [f"<{len(b['aligned'])} bytes>" for b in blobs]
    assert [r["aligned"] for r in json.loads(stdout(outputs, "sql blob json"))] == want
    assert [r["aligned"] for r in csv_table(stdout(outputs, "sql blob csv"))[1]] == want


# ---------------------------------------------------------------- facelake audit


def test_audit_json_is_one_document_keyed_by_question(outputs, direct):
    document = json.loads(stdout(outputs, "audit json"))
    assert list(document) == query_names()
    for name, answer in document.items():
        table = direct["answers"][name]
        assert answer["description"] == query_title(load_query(name))
        assert answer["parameters"] == DEFAULTS.get(name, {}), name
        assert answer["columns"] == table.column_names
        assert len(answer["rows"]) == table.num_rows, name
        assert answer["rows"] == [unrounded(row) for row in exact_rows(table)], name
    assert len(document["video_detection"]["rows"]) == len(direct["videos"])
    assert [r["video_id"] for r in document["worst_videos"]["rows"]] == [w["video_id"] for w in direct["worst"][:10]]
    assert [r["lost_share"] for r in document["worst_videos"]["rows"]] == [
        w["lost_share"] for w in direct["worst"][:10]
    ]


def test_the_declared_defaults_are_the_expected_ones():
    declared = {name: {p.name: p.default for p in declared_parameters(load_query(name))} for name in query_names()}
    assert {name: values for name, values in declared.items() if values} == DEFAULTS


def test_audit_jsonl_carries_the_question_with_each_row(outputs):
    lines = [json.loads(line) for line in stdout(outputs, "audit jsonl").splitlines()]
    assert all(set(line) == {"query", "row"} for line in lines)
    document = json.loads(stdout(outputs, "audit json"))
    by_question = {name: [line["row"] for line in lines if line["query"] == name] for name in document}
    assert by_question == {name: [unrounded(row) for row in answer["rows"]] for name, answer in document.items()}
    assert [line["query"] for line in lines] == sorted(line["query"] for line in lines)  # question by question


def test_audit_csv_out_writes_one_file_per_question(outputs):
    result = outputs["results"]["audit csv out"]
    assert result.stdout == ""
    folder = outputs["out"] / "audit-csv"
    document = json.loads(stdout(outputs, "audit json"))
    assert sorted(p.name for p in folder.iterdir()) == [f"{name}.csv" for name in query_names()]
    assert f"wrote {len(document)} CSV files to {folder}" in result.stderr
    for name, answer in document.items():
        header, rows = csv_table((folder / f"{name}.csv").read_text(encoding="utf-8"))
        assert header == answer["columns"], name
        assert len(rows) == len(answer["rows"]), name
        for got, want in zip(rows, answer["rows"]):
            assert all(csv_matches(got[column], want[column]) for column in header), (name, got, want)


def test_audit_csv_of_one_question_is_one_table_on_stdout(outputs, direct):
    header, rows = csv_table(stdout(outputs, "audit csv one"))
    assert header[-1] == "lost_share"
    check_worst(rows, direct)


def test_audit_csv_of_several_questions_without_out_is_refused(lake_path, tmp_path):
    result = _run("audit", "--lake", str(lake_path), "--format", "csv", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "facelake audit: error: --format csv writes one table: choose one question "
        "with --only NAME, or write one file per question with --out DIR"
    ]
    assert list(tmp_path.iterdir()) == []


def test_audit_headings_show_the_parameter_values_used(outputs, direct):
    title = query_title(load_query("worst_videos"))
    text = stdout(outputs, "audit table")
    headings = [line for line in text.splitlines() if line.startswith("== ")]
    assert len(headings) == len(query_names())
    assert f"== worst_videos: {title} (n=3) (3 rows)" in headings
    assert (
        f"== video_detection: {query_title(load_query('video_detection'))} (split=NULL) ({len(direct['videos'])} rows)"
        in headings
    )
    assert "(dimension='attack_type')" in text and "(min_iou=0.5)" in text
    markdown = stdout(outputs, "audit markdown")
    assert markdown.startswith("## worst_videos: ")
    assert f"## worst_videos: {title} (n=3) (3 rows)\n\n| video_id | split |" in markdown


def test_help_lists_every_query_parameter_with_its_default():
    from jobs import audit, sql

    for module in (audit, sql):
        text = " ".join(module.build_parser().format_help().split())
        for name in query_names():
            assert f"{name}: " in text
            for parameter in declared_parameters(load_query(name)):
                assert f"${parameter.name} (default {parameter.default_sql}): {parameter.description}" in text


# ---------------------------------------------------------------- readers that leave early


@pytest.mark.parametrize(
    "command",
    [
        "python -m jobs.audit --lake LAKE | head -3",
        "python -m jobs.audit --lake LAKE --format jsonl | true",  # closed before the first write
        "python -m jobs.sql --lake LAKE 'SELECT range AS i FROM range(200000)' | head -1",  # far past the pipe's buffer
        "python -m jobs.sql --lake LAKE 'SELECT range AS i FROM range(200000)' --format json | head -1",
        "python -m jobs.sql --lake LAKE --query worst_videos --format csv | true",
    ],
)
def test_a_reader_that_leaves_early_is_a_quiet_exit_0(lake_path, command):
    line = command.replace("python", f"'{sys.executable}'", 1).replace("LAKE", f"'{lake_path}'")
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {line}"],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    if "head -1" in command:
        assert len(result.stdout.splitlines()) == 1


def test_a_closed_stdout_before_the_job_writes(lake_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jobs.sql",
            "--lake",
            str(lake_path),
            "SELECT range AS i FROM range(100000)",
            "--format",
            "jsonl",
        ],
        cwd=REPO,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()
    _, errors = process.communicate(timeout=300)
    assert process.returncode == 0, errors.decode()
    assert errors == b""


# ---------------------------------------------------------------- a path without a lake


@pytest.fixture(scope="module")
def not_lakes(sample, tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("not-lakes")
    (base / "a-file").write_text("not a lake\n")
    return {
        "missing": (base / "missing", "no such folder"),
        "file": (base / "a-file", "it is a file"),
        "SiW tree": (sample.root, "none of its tables"),
    }


@pytest.mark.parametrize("kind", ["missing", "file", "SiW tree"])
@pytest.mark.parametrize(
    "job, args",
    [
        ("audit", ["--format", "csv", "--out", "{work}/csv"]),
        ("sql", ["SELECT 1", "--format", "json"]),
        ("report", ["--out", "{work}/report.html"]),
    ],
)
def test_a_path_without_a_lake_exits_2_with_one_line_and_creates_nothing(not_lakes, job, args, kind, tmp_path):
    path, why = not_lakes[kind]
    work = tmp_path / "work"
    work.mkdir()
    before = tree_digest(path.parent)
    result = _run(job, "--lake", str(path), *(arg.format(work=work) for arg in args), cwd=work)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"facelake {job}: error: no facelake lake at {path}: {why}")
    assert tree_digest(path.parent) == before and not (kind == "missing" and path.exists())
    assert list(work.iterdir()) == []  # no report, no CSV folder, no catalog
