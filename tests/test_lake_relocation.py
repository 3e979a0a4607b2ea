"""A lake can move: copied, moved or synced to S3 it still works, and its DuckDB catalog
never reads another lake's files (issue 16, item 8).

Every case starts from a copy of the shared clean lake; the real CLI runs in subprocesses.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import BUCKET, REPO, s3_job_env, subprocess_env


def _frames(lake: Path) -> int:

    from etl.lake.lake import Lake
    from schemas import FRAMES

    return Lake(str(lake)).read(FRAMES, columns=["video_id"]).num_rows


def _facelake(*args: str, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args],
        cwd=cwd,
        env=env or subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _count_frames_with_sql_cli(lake: str, env: dict | None = None) -> int:
    result = _facelake("sql", "--lake", lake, "SELECT count(*) AS n FROM frames", "--format", "csv", env=env)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    return int(rows[0]["n"])


def _plain_duckdb_count(lake: Path) -> int:
    """What a user with plain DuckDB gets from the lake's catalog (the delta extension loaded from the wheel)."""
    from etl.lake.catalog import delta_extension_path

    with duckdb.connect(str(lake / "catalog.duckdb"), read_only=True) as connection:
        connection.execute(f"LOAD '{delta_extension_path()}'")
        return connection.sql("SELECT count(*) FROM frames").fetchone()[0]


@pytest.fixture
def original(clean_ingest, tmp_path) -> Path:
    """A lake of this test's own, with a catalog made for it."""
    from etl.lake.catalog import refresh_catalog
    from etl.lake.lake import Lake

    lake = tmp_path / "original"
    shutil.copytree(clean_ingest.lake, lake)
    refresh_catalog(Lake(str(lake)))
    return lake


def test_a_copy_works_and_its_catalog_never_reads_the_original(original, tmp_path):
    expected = _frames(original)
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    # plain DuckDB on the copy's catalog refuses (the views would read the original) and says what to run
    with pytest.raises(
        duckdb.Error, match=r"made for the lake at .*original; the lake was copied or moved: run `facelake catalog"
    ):
        _plain_duckdb_count(copy)
    # facelake reads the copy as it is; the read-only sql job writes nothing and warns once
    result = _facelake("sql", "--lake", str(copy), "SELECT count(*) AS n FROM frames", "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["n", str(expected)]
    assert f"catalog.duckdb still points at {original}" in result.stderr
    # `facelake catalog` re-points it; then the copy's catalog reads the copy: with the original
    # gone it still answers, and its views name the copy's folder only
    result = _facelake("catalog", "--lake", str(copy))
    assert result.returncode == 0, result.stderr
    assert f"pointed at {original}; it now reads {copy}" in result.stderr
    shutil.rmtree(original)
    assert _plain_duckdb_count(copy) == expected
    with duckdb.connect(str(copy / "catalog.duckdb"), read_only=True) as connection:
        definitions = " ".join(
            row[0] for row in connection.sql("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall()
        )
        assert connection.sql("SELECT lake_root FROM facelake_catalog").fetchone() == (str(copy),)
    assert str(copy / "frames") in definitions and str(original) not in definitions


def test_a_moved_lake_works_and_a_writing_job_re_points_its_catalog(original, tmp_path):
    expected = _frames(original)
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    os.rename(original, moved)
    assert _count_frames_with_sql_cli(str(moved)) == expected
    import facelake

    assert facelake.open_lake(moved).table("frames", columns=["video_id"]).num_rows == expected
    # the catalog's views name the old folder, gone now: plain DuckDB fails (naming it) until re-pointed
    with pytest.raises(duckdb.Error, match="original"):
        _plain_duckdb_count(moved)
    # maintain writes the lake (a runs row), so it refreshes the catalog at its end
    result = _facelake("maintain", "--lake", str(moved))
    assert result.returncode == 0, result.stderr
    assert _plain_duckdb_count(moved) == expected


def test_the_catalog_opens_for_another_os_user_offline(original, tmp_path):
    """Another HOME has no delta extension installed: open_catalog loads the wheel's file, downloads
    nothing and writes nothing under that HOME."""
    home = tmp_path / "home-of-another-user"
    home.mkdir()
    code = (
        "import facelake, sys; c = facelake.open_catalog(sys.argv[1]); "
        "print(c.sql('SELECT count(*) FROM frames').fetchone()[0])"
    )
    env = {
        **subprocess_env(),
        "HOME": str(home),
        "PYTHONPATH": str(REPO),
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
    }  # any download would fail
    result = subprocess.run(
        [sys.executable, "-c", code, str(original)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == _frames(original)
    assert list(home.rglob("*")) == []


@pytest.mark.slow
def test_a_lake_synced_to_s3_works(original, s3):
    """`aws s3 sync LAKE s3://bucket/prefix`, file by file: the lake's Delta logs hold relative paths."""
    prefix = "relocation/synced"
    for path in sorted(p for p in original.rglob("*") if p.is_file()):
        s3["client"].upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(original).as_posix()}")
    lake = f"s3://{BUCKET}/{prefix}"
    env = s3_job_env(s3)
    assert _count_frames_with_sql_cli(lake, env=env) == _frames(original)
    audit = _facelake("audit", "--lake", lake, "--only", "video_detection", "--format", "json", env=env)
    assert audit.returncode == 0, audit.stderr
    assert "video_detection" in audit.stdout
