"""The `facelake` command: dispatch, early refusal of bad arguments, and `sql` over a real lake."""

from __future__ import annotations

import json
import logging

import pytest

from jobs import cli, ingest, sql


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("sample", "ingest", "sql"):
        assert command in out


def test_unknown_command_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--workers", "0"], "workers must be >= 1, got 0"),
        (["--frame-stride", "0"], "frame_stride must be >= 1, got 0"),
        (["--detector", "yolo"], "detector backend 'yolo' is not one of"),
        (["--accept-score", "1.5"], "accept_score must be in [0, 1], got 1.5"),
        (["--min-face-size", "5"], "min_face_size must be >= 12 pixels"),
    ],
)
def test_ingest_refuses_bad_settings_before_any_work(tmp_path, caplog, extra, message):
    lake = tmp_path / "lake"
    with caplog.at_level(logging.ERROR):
        code = ingest.main(["--source", str(tmp_path), "--lake", str(lake), *extra])
    assert code == 2
    assert message in caplog.text
    assert not lake.exists()


def test_ingest_refuses_a_missing_source(tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        code = ingest.main(["--source", str(tmp_path / "nope"), "--lake", str(tmp_path / "lake")])
    assert code == 2
    assert "is not a folder" in caplog.text
    assert not (tmp_path / "lake").exists()


def test_insightface_detector_without_a_model_names_the_folder(tmp_path):
    from etl.config import DetectorConfig
    from etl.faces.detect import build_detector

    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        build_detector(DetectorConfig(backend=f"insightface:{tmp_path}"))


def test_sql_named_query_over_the_lake(clean_ingest, sample, capsys):
    code = sql.main(
        ["--lake", str(clean_ingest.lake), "--query", "video_detection", "--param", "split=test", "--format", "csv"]
    )
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "video_id,split,label,attack_type,status,original,detect,sub,detect_pct"
    expected = sum(1 for v in sample.manifest.videos if v.split == "test")
    assert len(lines) - 1 == expected
    assert all(line.split(",")[1] == "test" for line in lines[1:])


def test_sql_text_and_unknown_parameter(clean_ingest, sample, capsys, caplog):
    assert sql.main(["--lake", str(clean_ingest.lake), "SELECT count(*) AS n FROM videos", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": len(sample.manifest.videos)}]
    with caplog.at_level(logging.ERROR):
        assert sql.main(["--lake", str(clean_ingest.lake), "--query", "video_detection", "--param", "nope=1"]) == 2
    assert "parameters ['nope'] are not used by the query" in caplog.text
    with pytest.raises(SystemExit) as exit_info:
        sql.main(["--lake", str(clean_ingest.lake), "--query", "no_such_query"])
    assert exit_info.value.code == 2
    assert "argument --query: invalid choice: 'no_such_query'" in capsys.readouterr().err


def test_sql_runs_a_file_with_parameters(clean_ingest, sample, tmp_path, capsys):
    query = tmp_path / "count.sql"
    query.write_text("-- frames of one split\nSELECT count(*) AS n FROM frames WHERE split = $split\n")
    assert (
        sql.main(["--lake", str(clean_ingest.lake), "-f", str(query), "--param", "split=train", "--format", "csv"]) == 0
    )
    expected = sum(v.frames for v in sample.manifest.videos if v.split == "train" and "truncated" not in v.defects)
    assert capsys.readouterr().out.strip().splitlines() == ["n", str(expected)]


def test_audit_prints_every_question_with_its_title(clean_ingest, capsys):
    from etl.lake.query import query_names
    from jobs import audit

    assert audit.main(["--lake", str(clean_ingest.lake)]) == 0
    out = capsys.readouterr().out
    for name in query_names():
        assert f"== {name}: " in out
    assert audit.main(["--lake", str(clean_ingest.lake), "--only", "video_detection", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## video_detection: Per video: decoded frames")
    assert "| video_id | split |" in out


def test_audit_refuses_an_unknown_query(clean_ingest, capsys):
    from jobs import audit

    with pytest.raises(SystemExit) as exit_info:
        audit.main(["--lake", str(clean_ingest.lake), "--only", "nope"])
    assert exit_info.value.code == 2
    assert "argument --only: invalid choice: 'nope' (choose from 'box_disagreement'," in capsys.readouterr().err


def test_raylet_messages_go_to_the_log_not_to_stdout(capsys, caplog):
    """Ray prints raylet warnings on stdout (the job's results); facelake's Ray sends them to logging."""
    import ray._private.worker as ray_worker

    from etl.ray_runtime import _raylet_messages_to_logging

    _raylet_messages_to_logging()
    _raylet_messages_to_logging()  # idempotent: one wrapper, not two
    warning = "WARNING: 8 PYTHON worker processes have been started on node: abc with address: 127.0.0.1"
    with caplog.at_level(logging.WARNING, logger="raylet"):
        ray_worker.print_to_stdstream({"lines": [warning], "pid": "raylet", "is_err": False}, ignore_prefix=False)
    assert capsys.readouterr().out == ""
    assert [(r.name, r.getMessage()) for r in caplog.records] == [("raylet", warning)]
    # a worker's own output (log_to_driver, --verbose) is printed as Ray prints it
    ray_worker.print_to_stdstream(
        {
            "lines": ["hello"],
            "pid": 42,
            "ip": "127.0.0.1",
            "is_err": False,
            "task_name": "t",
            "actor_name": "",
            "job": "01",
        },
        ignore_prefix=True,
    )
    assert "hello" in capsys.readouterr().out
