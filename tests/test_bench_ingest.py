"""bench/ingest.py's own logic that decides a bench's verdict: exporting an old revision to run beside the new
code, and the checks that the side runs did the work they claim (no crops changes no face; `before` ran the old
code), and the wall-clock jump that voids a run's steady frames/s. The bench itself takes half an hour and is not
run here."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from bench.ingest import CLOCK_JUMP_MAX_S, Run, before_check, clock_jump_s, export_revision, same_faces_check
from tests.conftest import REPO


def _run(name: str, landmarks: dict, sources: set[str] = frozenset()) -> Run:
    return Run(name, processes=2, frames=10, seconds=1.0, landmarks=landmarks, det_sources=frozenset(sources))


def test_export_revision_writes_that_revisions_files_and_leaves_the_repository_alone(tmp_path):
    worktrees = subprocess.run(["git", "-C", str(REPO), "worktree", "list"], capture_output=True, text=True).stdout
    folder = export_revision("HEAD", tmp_path / "code")
    committed = subprocess.run(
        ["git", "-C", str(REPO), "show", "HEAD:jobs/ingest.py"], capture_output=True, text=True, check=True
    ).stdout
    assert (folder / "jobs" / "ingest.py").read_text() == committed
    assert subprocess.run(["git", "-C", str(REPO), "worktree", "list"], capture_output=True, text=True).stdout == (
        worktrees
    )


def test_a_revision_that_does_not_exist_is_one_clear_line_and_nothing_written(tmp_path):
    with pytest.raises(SystemExit, match="cannot export revision 0000000deadbeef.*--before; none skips it"):
        export_revision("0000000deadbeef", tmp_path / "code")
    assert not (tmp_path / "code").exists()


def test_no_crops_must_find_the_same_faces_with_the_same_landmarks():
    face = np.arange(10, dtype=np.float32).reshape(5, 2)
    with_crops = _run("crops", {("v", 0): face, ("v", 1): face})
    assert same_faces_check(with_crops, _run("none", {("v", 0): face.copy(), ("v", 1): face.copy()})).passed
    assert not same_faces_check(with_crops, _run("none", {("v", 0): face})).passed
    assert not same_faces_check(with_crops, _run("none", {("v", 0): face, ("v", 1): face + 0.01})).passed


def test_the_before_run_must_show_no_frame_found_by_onet_alone():
    tracking = _run("tracking", {}, {"roi", "onet_track"})
    assert before_check(_run("before", {}, {"roi", "full_frame"}), tracking).passed
    assert not before_check(_run("before", {}, {"roi", "onet_track"}), tracking).passed
    # and a tracking run without ONet-alone frames proves nothing
    assert not before_check(_run("before", {}, {"roi"}), _run("tracking", {}, {"roi"})).passed


def test_a_wall_clock_jump_is_the_runs_span_beyond_its_own_timer():
    started = datetime(2026, 12, 4, 22, 25, 28, tzinfo=timezone.utc)

    def row(wall_s: float, elapsed_s: float) -> dict:
        ended = started + timedelta(seconds=wall_s)
        return {"started_at": started, "ended_at": ended, "counts_json": json.dumps({"elapsed_s": elapsed_s})}

    assert clock_jump_s(row(46.2, 46.0)) == pytest.approx(0.2)  # a scan's worth: steady frames/s stand
    assert clock_jump_s(row(46.2, 46.0)) <= CLOCK_JUMP_MAX_S
    assert clock_jump_s(row(67.7, 46.0)) == pytest.approx(21.7)  # measured 2026-12-04: steady is dropped
    assert clock_jump_s(row(67.7, 46.0)) > CLOCK_JUMP_MAX_S
