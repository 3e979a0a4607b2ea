"""`facelake ingest` / `register` / `sample` from the command line: a wrong --source or --lake is
refused in one line before anything is written, the help teaches, a first ingest leaves a
catalog from its start, and a run's terminal output is facelake's lines only.

The refusals run the real CLI in a subprocess (about a second each: no Ray starts).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from etl.lake.lake import Lake
from schemas import RUNS, VIDEOS
from tests.conftest import REPO, ingest_command, run_job_cli, subprocess_env, tree_digest

# what a quiet run must not show on the terminal (it goes to the log file)
NOISE = ("Token authentication", "absl", "oneDNN", "cuda", "cuInit", "moov atom", "Traceback", "(_process_remote")
SIW_EXPECTED = (
    "is not a SiW tree: expected Train/ and/or Test/ folders holding live/ and spoof/ with "
    "SSS/SSS-sensor-type-medium-session.mov videos (.m.mov and .mp4 too); "
)
PHOTOS_EXPECTED = (
    "is not a photo tree: expected one folder per user directly inside it, holding that user's .jpg/.jpeg/.png photos; "
)


def write(path: Path, data: bytes = b"x" * 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def siw_tree(root: Path) -> Path:
    """A small SiW-shaped tree (the bytes are not videos: refusals happen before anything is decoded)."""
    write(root / "Train/live/003/003-1-1-1-1.mov")
    write(root / "Train/spoof/003/003-1-2-1-1.mov", b"y" * 64)
    write(root / "Test/live/006/006-1-1-1-1.mov", b"z" * 64)
    return root


def photo_tree(root: Path) -> Path:
    write(root / "alice/01.jpg")
    write(root / "bob/01.png", b"y" * 64)
    return root


def end_session(process: subprocess.Popen) -> None:
    """Kill `process` if it still runs, and whatever it started that outlived it (a Ray it had begun
    to start): every process of the session it was started in (`start_new_session=True`)."""
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)
    for pid in psutil.pids():
        try:
            if os.getsid(pid) == process.pid:
                os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def terminal_lines(stderr: str, job: str) -> list[str]:
    """The run's terminal lines, less the `log: PATH` line `jobs.common.runner.run_job` ends some jobs' runs with."""
    return [line for line in stderr.splitlines() if not line.startswith(f"facelake {job}: log: ")]


def refused(job: str, *args: str) -> str:
    """Run `job` expecting exit 2 with exactly one `facelake <job>: error:` line; that line."""
    result = run_job_cli(job, *args, expect=2, timeout=120)
    lines = terminal_lines(result.stderr, job)
    assert len(lines) == 1 and lines[0].startswith(f"facelake {job}: error: "), result.stderr
    assert result.stdout == ""
    return lines[0]


# ------------------------------------------------------------------ ingest: wrong sources


def test_ingest_refuses_an_empty_folder_and_writes_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    line = refused("ingest", "--source", str(tmp_path / "empty"), "--lake", str(tmp_path / "lake"))
    assert line == f"facelake ingest: error: --source {tmp_path / 'empty'} {SIW_EXPECTED}the folder is empty"
    assert not (tmp_path / "lake").exists()


def test_ingest_refuses_a_photo_tree_and_names_register(tmp_path):
    photos = photo_tree(tmp_path / "photos")
    before = tree_digest(photos)
    line = refused("ingest", "--source", str(photos), "--lake", str(tmp_path / "lake"))
    assert line == (
        f"facelake ingest: error: --source {photos} {SIW_EXPECTED}it looks like a photo tree (2 user "
        f"folders of .jpg/.jpeg/.png photos): register it with `facelake register --source {photos} "
        "--lake LAKE`"
    )
    assert not (tmp_path / "lake").exists()
    assert tree_digest(photos) == before


def test_ingest_of_a_split_folder_says_to_pass_its_parent(tmp_path):
    """`--source demo/siw/Train` used to write one `bad_name` row per video."""
    tree = siw_tree(tmp_path / "siw")
    line = refused("ingest", "--source", str(tree / "Train"), "--lake", str(tmp_path / "lake"))
    assert line.endswith(f"; it is part of the SiW tree {tree}: pass its parent, {tree}")
    assert not (tmp_path / "lake").exists()


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_ingest_refuses_a_source_that_is_not_a_folder(tmp_path, kind):
    source = tmp_path / "siw"
    if kind == "file":
        source.write_bytes(b"not a tree")
    line = refused("ingest", "--source", str(source), "--lake", str(tmp_path / "lake"))
    why = "nothing is there" if kind == "missing" else "it is a file"
    assert line.startswith(
        f"facelake ingest: error: --source {source} is not a folder ({why}); pass the root of a "
        "SiW tree (Train/ and/or Test/ folders"
    )
    assert not (tmp_path / "lake").exists()


def test_ingest_keeps_badly_named_videos_of_a_siw_tree_as_rows(tmp_path):
    """Real-data tolerance: a SiW tree is ingested even with stray and badly named files in it; they
    become rows with their status (nothing here needs Ray: no video is processable)."""
    tree = tmp_path / "siw"
    write(tree / "Train/live/003/bad name.mov")
    write(tree / "stray.mov", b"y" * 64)
    write(tree / "Test/spoof/006/006-1-2-1-1.mov", b"")
    result = run_job_cli(
        "ingest", "--source", str(tree), "--lake", str(tmp_path / "lake"), "--no-progress", timeout=300
    )
    assert "facelake ingest: videos: 3 found, 0 processed, 0 unchanged, 0 gone from source" in result.stderr
    rows = {r["video_id"]: r["status"] for r in Lake(str(tmp_path / "lake")).read(VIDEOS).to_pylist()}
    assert rows == {
        "Train/live/003/bad name.mov": "bad_name",
        "stray.mov": "bad_name",
        "Test/spoof/006/006-1-2-1-1": "empty_file",
    }


def test_an_empty_siw_tree_is_nothing_to_do_yet(tmp_path):
    """Train/live with no video yet is a SiW tree: exit 0, 0 found, and a lake with its catalog."""
    (tmp_path / "siw/Train/live").mkdir(parents=True)
    result = run_job_cli(
        "ingest", "--source", str(tmp_path / "siw"), "--lake", str(tmp_path / "lake"), "--no-progress", timeout=300
    )
    assert "facelake ingest: videos: 0 found, 0 processed, 0 unchanged, 0 gone from source" in result.stderr
    lake = Lake.open(str(tmp_path / "lake"))
    assert lake.read(VIDEOS).num_rows == 0
    assert [r["status"] for r in lake.read(RUNS).to_pylist()] == ["succeeded"]
    assert (tmp_path / "lake/catalog.duckdb").is_file()


# ------------------------------------------------------------------ ingest: wrong lakes


@pytest.mark.parametrize("kind", ["file", "foreign folder", "another siw tree"])
def test_ingest_refuses_a_lake_it_cannot_make_and_touches_nothing(tmp_path, kind):
    source = siw_tree(tmp_path / "siw")
    lake = tmp_path / "lake"
    if kind == "file":
        write(lake, b"my notes")
        why = "it is a file; pass a folder (new or empty) or an existing lake"
    elif kind == "foreign folder":
        write(lake / "notes.txt", b"my notes")
        why = (
            "the folder holds other files (notes.txt) and no facelake table; pass a new or empty folder, "
            "or an existing lake"
        )
    else:
        siw_tree(lake)
        why = (
            "the folder holds other files (Test, Train) and no facelake table; pass a new or empty folder, "
            "or an existing lake"
        )
    before = {"source": tree_digest(source), "lake": tree_digest(lake) if lake.is_dir() else lake.read_bytes()}
    line = refused("ingest", "--source", str(source), "--lake", str(lake))
    assert line == f"facelake ingest: error: cannot make a lake at {lake}: {why}"
    after = {"source": tree_digest(source), "lake": tree_digest(lake) if lake.is_dir() else lake.read_bytes()}
    assert after == before


@pytest.mark.parametrize("where", ["the source itself", "inside the source"])
def test_ingest_refuses_a_lake_in_its_source(tmp_path, where):
    source = siw_tree(tmp_path / "siw")
    lake = source if where == "the source itself" else source / "lake"
    before = tree_digest(source)
    line = refused("ingest", "--source", str(source), "--lake", str(lake))
    what = "is the --source folder itself" if lake == source else f"is inside --source {source}"
    assert line == (
        f"facelake ingest: error: --lake {lake} {what}: put the lake outside the source tree "
        "(a scan would read the lake's files as source files)"
    )
    assert tree_digest(source) == before
    assert not (source / "lake").exists()


# ------------------------------------------------------------------ register: wrong sources


def test_register_refuses_a_siw_tree_and_names_ingest(tmp_path):
    tree = siw_tree(tmp_path / "siw")
    line = refused("register", "--source", str(tree), "--lake", str(tmp_path / "lake"))
    assert line == (
        f"facelake register: error: --source {tree} {PHOTOS_EXPECTED}it is a SiW video tree: ingest it "
        f"with `facelake ingest --source {tree} --lake LAKE`"
    )
    assert not (tmp_path / "lake").exists()


@pytest.mark.parametrize(
    ("layout", "hint"),
    [
        ({}, "the folder is empty"),
        ({"alice/notes.txt": b"x"}, "no .jpg/.jpeg/.png photo in it"),
        (
            {"01.jpg": b"x", "02.jpg": b"y"},
            "it holds photos itself, as one user's folder would: pass the folder holding "
            "the user folders, such as its parent {parent}",
        ),
    ],
)
def test_register_refuses_a_folder_without_user_photos(tmp_path, layout, hint):
    source = tmp_path / "photos"
    source.mkdir()
    for rel, data in layout.items():
        write(source / rel, data)
    line = refused("register", "--source", str(source), "--lake", str(tmp_path / "lake"))
    assert line == f"facelake register: error: --source {source} {PHOTOS_EXPECTED}{hint.format(parent=tmp_path)}"
    assert not (tmp_path / "lake").exists()


def test_register_refuses_a_lake_it_cannot_make(tmp_path):
    photos = photo_tree(tmp_path / "photos")
    write(tmp_path / "lake", b"my notes")
    line = refused("register", "--source", str(photos), "--lake", str(tmp_path / "lake"))
    assert line == (
        f"facelake register: error: cannot make a lake at {tmp_path / 'lake'}: it is a file; pass a folder "
        "(new or empty) or an existing lake"
    )
    assert (tmp_path / "lake").read_bytes() == b"my notes"


def test_photo_source_check_accepts_a_photo_tree_with_other_files(tmp_path):
    from etl.sources.photo_tree import check_photo_source

    root = photo_tree(tmp_path / "photos")
    write(root / "README.txt")
    write(root / "carol/notes.txt")
    check_photo_source(str(root))  # no exception: files that are not photos are counted as ignored by the scan


# ------------------------------------------------------------------ ingest --watch


def test_watch_waits_on_an_empty_folder_and_ingests_once_it_is_a_siw_tree(tmp_path):
    """An empty landing folder is accepted with --watch: passes write nothing until it is a SiW tree."""
    source, lake = tmp_path / "landing", tmp_path / "lake"
    source.mkdir()
    # 2 s between passes: the SIGTERM below lands while the job waits, not during a pass
    process = subprocess.Popen(
        [*ingest_command(source, lake), "--watch", "--interval", "2"],
        cwd=REPO,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        first = process.stderr.readline()
        assert first.startswith(
            f"facelake ingest: watch: nothing to ingest yet: --source {source} is not a SiW tree"
        ), first
        assert first.rstrip().endswith("the folder is empty")
        assert not lake.exists()
        write(source / "Train/live/003/003-1-1-1-1.mov", b"")  # an empty video: a status row, no Ray needed
        line = process.stderr.readline()
        while line and "watch: pass" not in line:
            line = process.stderr.readline()
        assert line.startswith("facelake ingest: watch: pass 1: 1 found, 0 processed, 0 unchanged"), line
        process.send_signal(signal.SIGTERM)
        out, rest = process.communicate(timeout=60)
    finally:
        end_session(process)
    assert process.returncode == 0, rest
    assert "watch: stopped after 1 passes" in rest
    assert out == ""
    assert [r["status"] for r in Lake(str(lake)).read(VIDEOS).to_pylist()] == ["empty_file"]


def test_watch_refuses_a_source_that_is_not_empty_and_not_a_siw_tree(tmp_path):
    photos = photo_tree(tmp_path / "photos")
    line = refused("ingest", "--source", str(photos), "--lake", str(tmp_path / "lake"), "--watch")
    assert "it looks like a photo tree" in line
    assert not (tmp_path / "lake").exists()


# ------------------------------------------------------------------ catalog from the start


def test_a_killed_first_ingest_leaves_a_usable_catalog(tmp_path):
    """The catalog is written when the tables are made, not only at the end of the run: a first
    ingest killed (SIGKILL) right after its scan leaves one that plain DuckDB can query."""
    from etl.lake.catalog import open_catalog

    source, lake = siw_tree(tmp_path / "siw"), tmp_path / "lake"
    process = subprocess.Popen(
        ingest_command(source, lake),
        cwd=REPO,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        line = process.stderr.readline()
        while line and "scan of" not in line:
            line = process.stderr.readline()
        assert "3 to process" in line, line  # the catalog was refreshed before this line
        process.kill()  # before its Ray starts, as a first run killed early would be
        process.wait(timeout=30)
    finally:
        end_session(process)
    connection = open_catalog(lake)
    try:
        assert connection.execute("SELECT job, status FROM runs").fetchall() == [("ingest", "running")]
        assert connection.execute("SELECT count(*) FROM videos").fetchone() == (0,)
        assert connection.execute("SELECT count(*) FROM frames").fetchone() == (0,)
    finally:
        connection.close()


# ------------------------------------------------------------------ help


def _help(job: str) -> str:
    import importlib

    return importlib.import_module(f"jobs.{job}").build_parser().format_help()


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("job", ["ingest", "register", "sample"])
def test_every_option_is_described(job):
    import importlib

    parser = importlib.import_module(f"jobs.{job}").build_parser()
    undescribed = [a.option_strings for a in parser._actions if a.option_strings and not (a.help or "").strip()]
    assert not undescribed
    assert "-v, --verbose" in parser.format_help()
    assert "examples:" in (parser.epilog or "")


@pytest.mark.parametrize(
    ("job", "shown"),
    [
        (
            "ingest",
            [
                "--workers N videos processed at once (Ray tasks of one CPU each) (default: 2)",
                "(default: 0.6 0.7 0.7)",
                "--commit-every N videos per Delta commit",
                "crash can lose at most (default: 4)",
                "--min-face-size PIXELS",
                "(at least 12) (default: 40)",
                "no aligned face (default: 0.8)",
                "start of the next (default: 300.0)",
                "(default: 4096)",
                "(default: mtcnn)",
                "(default: none)",
                "facelake ingest --source demo/siw --lake demo/lake",
                "--address HEAD_IP:6379",
                "--watch --interval 600",
                "facelake register --source demo/photos --lake demo/lake",
            ],
        ),
        (
            "register",
            [
                "--workers N Ray tasks at once (one CPU each) (default: 2)",
                "(default: 16)",
                "(default: 0.8)",
                "(default: 40)",
                "stage thresholds 0.5 0.6 0.6",
                "facelake register --source demo/photos --lake demo/lake",
                "--address HEAD_IP:6379",
            ],
        ),
        (
            "sample",
            [
                "--subjects N",
                "(default: 4)",
                "(default: 2.0)",
                "(default: 0)",
                "facelake sample --out demo/siw --photos demo/photos --subjects 8",
            ],
        ),
    ],
)
def test_help_shows_defaults_and_examples(job, shown):
    text = _flat(_help(job))
    missing = [s for s in shown if _flat(s) not in text]
    assert not missing, text


def test_help_from_the_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "jobs.ingest", "--help"],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: facelake ingest ")
    assert "(default: 0.6 0.7 0.7)" in _flat(result.stdout)


# ------------------------------------------------------------------ quiet terminal


def test_the_clean_ingest_printed_only_facelake_lines(clean_ingest, sample):
    """The session's CLI ingest of the sample: facelake's lines, the summary, the log file at the end;
    other libraries' chatter only in that file. (The fixture keeps stderr; stdout is checked by
    `test_a_plain_ingest_prints_nothing_else` below.)"""
    lines = clean_ingest.log.splitlines()
    found = [marker for marker in NOISE if marker in clean_ingest.log]
    assert not found, clean_ingest.log
    assert all(line.startswith("facelake ingest: ") for line in lines), clean_ingest.log
    n = len(sample.manifest.videos)
    assert f"facelake ingest: videos: {n} found, {n} processed, 0 unchanged, 0 gone from source" in lines
    assert f"facelake ingest: video status (this run): corrupt 1, ok {n - 1}" in lines
    _assert_log_file_line(lines[-1])


def _assert_log_file_line(line: str) -> None:
    match = re.fullmatch(r"facelake ingest: log: (\S+\.log)", line)
    assert match, line
    text = Path(match[1]).read_text()
    assert "facelake.ingest: run ingest-" in text
    own = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ [A-Z]+ (facelake|etl|jobs)[.:]")
    # other libraries' lines (Ray's "Token authentication is enabled ..." among them) land here
    assert any(not own.match(line) for line in text.splitlines()), text


@pytest.mark.slow
def test_a_plain_ingest_prints_nothing_else_and_an_interrupt_counts_right(sample, tmp_path):
    """A SIGTERM after the first commit says how many videos were committed before and how many
    it commits now (their sum is the videos table); the rerun that completes the lake prints
    only facelake's lines, nothing on stdout."""
    tree = tmp_path / "siw"
    videos = sample.manifest.videos[:5] + sample.manifest.by_defect("truncated")
    assert len({v.path for v in videos}) == 6
    for video in videos:
        for rel in (video.path, video.face_path):
            if (sample.root / rel).is_file():
                shutil.copy2(sample.root / rel, write(tree / rel))
    lake = tmp_path / "lake"
    process = subprocess.Popen(
        [*ingest_command(tree, lake), "--workers", "2", "--commit-every", "1"],
        cwd=REPO,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not _rows(lake):
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()[-3000:]
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=120)
    finally:
        end_session(process)
    assert process.returncode == 130, err
    match = re.search(
        r"facelake ingest: warning: interrupted: (\d+) videos already committed, committing (\d+) more "
        r"finished ones; abandoning (\d+) in flight \(the next run redoes them\)",
        err,
    )
    assert match, err
    assert int(match[1]) >= 1
    assert int(match[1]) + int(match[2]) == Lake(str(lake)).read(VIDEOS).num_rows
    assert out == "" and not [m for m in NOISE if m in err], err

    rerun = subprocess.run(
        ingest_command(tree, lake), cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout == ""
    assert not [m for m in NOISE if m in rerun.stderr], rerun.stderr
    lines = rerun.stderr.splitlines()
    assert all(line.startswith("facelake ingest: ") for line in lines), rerun.stderr
    assert any(line.startswith("facelake ingest: videos: 6 found, ") for line in lines), rerun.stderr
    _assert_log_file_line(lines[-1])


def _rows(lake: Path) -> int:
    try:
        return Lake(str(lake)).read(VIDEOS, columns=["status"]).num_rows
    except Exception:  # noqa: BLE001 - the table may not exist yet while we poll
        return 0
