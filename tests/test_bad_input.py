"""The bad-input corpus through the real CLIs (`facelake ingest`, `facelake register`).

For every bad kind: its row's exact status and a stable part of its reason (or of the
run summary's note on it); the run exits 0 and its summary lists the failures;
`--strict` exits 1 and writes the same rows (checked on a sub-corpus: every failing kind
and one good item); the good items end exactly as a clean run of them alone; the source
tree is not touched. Real Ray, real MTCNN, real Delta tables; the corpus is generated
(`tests/bad_input_corpus.py`).

Every job here runs held to file permission bits, as an ordinary user's job is, even
when the tests run as root (as CI does): see `conftest.without_root_file_access`. So the
unreadable kinds (mode 000) are unreadable to the job and are never skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from checksum import RUN_COLUMNS, table_checksum

from etl.lake.lake import Lake
from schemas import FRAMES, PHOTOS, RUNS, VIDEOS
from tests.bad_input_corpus import (
    DEFECT_LINE,
    EXTRA_FACE_LINES,
    N_FRAMES,
    VIDEO_KINDS,
    CorpusTrees,
    link_entry,
    write_photo_corpus,
    write_video_corpus,
)
from tests.conftest import run_job_cli, without_root_file_access

RUN_SPECIFIC = (*RUN_COLUMNS, "source_root")  # what differs between two runs of the same items
NOT_PROCESSED = {"empty_file", "bad_name", "duplicate_name", "duplicate_content", "unreadable", "corrupt", "not_image"}
LINE = DEFECT_LINE - 1  # the 0-based frame whose .face line is the defect
# det_source of a face found from the frame's .face box (the cascade in its region, ONet alone on the face followed
# or on the box), and of one found in a frame without a usable box (ONet alone on the face followed, or the cascade on
# the whole frame; etl/faces/track.py)
FROM_THE_BOX = {"roi", "onet_track", "onet_face_box"}
WITHOUT_A_BOX = {"onet_track", "full_frame"}


def tree_state(root: Path) -> dict[str, tuple]:
    """Every entry under root (links and pipes not followed or opened): content, mode, mtime."""
    state = {}
    for directory, subdirs, files in os.walk(root):
        for name in subdirs + files:
            path = Path(directory) / name
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                content = "link:" + os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                try:
                    content = hashlib.sha256(path.read_bytes()).hexdigest()
                except PermissionError:
                    content = "unreadable"
            else:
                content = stat.filemode(info.st_mode)
            state[path.relative_to(root).as_posix()] = (content, info.st_mode, info.st_mtime_ns)
    return state


@dataclass
class Runs:
    trees: CorpusTrees
    clean: Lake  # the good items alone
    corpus: Lake  # good + bad
    strict: Lake  # the sub-corpus (the failing kinds and one good item), with --strict
    strict_kinds: list[str]  # the kinds in the sub-corpus
    log: str  # the corpus run's log
    state_before: dict
    state_after: dict

    def rows(self, spec, key: str) -> dict[str, dict]:
        return {r[key]: r for r in self.corpus.read(spec).to_pylist()}


def _sub_corpus(trees: CorpusTrees, kinds: list[str], target: Path) -> Path:
    """The corpus cut to `kinds` and its first good item, at the same relative paths (hard links: nothing is read)."""
    for rel in trees.good:
        link_entry(trees.corpus / rel, target / rel)
    for kind in kinds:
        link_entry(trees.corpus / trees.items[kind].source, target / trees.items[kind].source)
    return target


def _runs(base: Path, trees: CorpusTrees, run: Callable[..., str], expect: dict[str, Expect]) -> Runs:
    """A clean run of the good items, a run of the corpus, and a --strict run of its failing kinds (exit 1).

    The strict run takes a sub-corpus, not the whole corpus again: what --strict changes is the
    exit code, and every failing kind is there to make it 1; its rows are compared with the corpus run's.
    """
    before = tree_state(trees.corpus)
    lakes = {name: base / f"lake-{name}" for name in ("clean", "corpus", "strict")}
    failing = [kind for kind, e in expect.items() if e.status != "ok"]
    strict_tree = _sub_corpus(trees, failing, base / "strict-corpus")
    run(trees.clean, lakes["clean"])
    log = run(trees.corpus, lakes["corpus"])
    run(strict_tree, lakes["strict"], "--strict", expect=1)
    return Runs(
        trees=trees,
        clean=Lake(str(lakes["clean"])),
        corpus=Lake(str(lakes["corpus"])),
        strict=Lake(str(lakes["strict"])),
        strict_kinds=failing,
        log=log,
        state_before=before,
        state_after=tree_state(trees.corpus),
    )


def _ingest(source: Path, lake: Path, *extra: str, expect: int = 0) -> str:
    return run_job_cli(
        "ingest",
        "--source",
        str(source),
        "--lake",
        str(lake),
        "--no-progress",
        *extra,
        expect=expect,
        prefix=without_root_file_access(),
    ).stderr


def _register(source: Path, lake: Path, *extra: str, expect: int = 0) -> str:
    return run_job_cli(
        "register",
        "--source",
        str(source),
        "--lake",
        str(lake),
        *extra,
        expect=expect,
        prefix=without_root_file_access(),
    ).stderr


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Runs:
    base = tmp_path_factory.mktemp("bad-videos")
    return _runs(base, write_video_corpus(base), _ingest, VIDEO_EXPECT)


@pytest.fixture(scope="module")
def photos(tmp_path_factory, registry_tree) -> Runs:
    base = tmp_path_factory.mktemp("bad-photos")
    return _runs(base, write_photo_corpus(base, registry_tree.root), _register, PHOTO_EXPECT)


# ------------------------------------------------------------------ what each kind must end as


@dataclass(frozen=True)
class Expect:
    status: str
    reason: str | None  # a stable part of status_reason; None: the row has none
    note: str | None = None  # a regex the ingest summary's note on the video must contain
    columns: dict = field(default_factory=dict)  # exact values of other columns of the row
    check: Callable[[dict, list[dict]], None] | None = None  # more, on the row and its frames (by frame_index)


def _repairs(*expected: tuple[int, str, str]) -> Callable[[dict, list[dict]], None]:
    """The row's .face repairs are exactly `(line, kind, method)...`."""

    def check(row: dict, frames: list[dict]) -> None:
        assert [(r["line"], r["kind"], r["method"]) for r in row["face_repairs"]] == list(expected)

    return check


def _line_dropped(kind: str) -> Callable[[dict, list[dict]], None]:
    def check(row: dict, frames: list[dict]) -> None:
        _repairs((DEFECT_LINE, kind, "dropped"))(row, frames)
        assert frames[LINE]["face_box"] is None and frames[LINE]["face_box_source"] == kind
        # the face is still found (followed from the frame before by ONet alone, or on the whole frame) and every
        # other line is used as written
        assert frames[LINE]["det_status"] == "ok" and frames[LINE]["det_source"] in WITHOUT_A_BOX
        assert {f["face_box_source"] for i, f in enumerate(frames) if i != LINE} == {"face_file"}

    return check


def _negative_clamped(row: dict, frames: list[dict]) -> None:
    _repairs((DEFECT_LINE, "negative_coordinate", "clamped"), (DEFECT_LINE, "negative_coordinate", "clamped"))(
        row, frames
    )
    assert [r["position"] for r in row["face_repairs"]] == [0, 1]
    assert frames[LINE]["face_box"][:2] == [0, 0] and frames[LINE]["face_box_source"] == "repaired"
    assert frames[LINE]["det_status"] == "ok"


def _out_of_frame(row: dict, frames: list[dict]) -> None:
    assert row["face_repairs"] == []  # the parser cannot know the frame size; the summary note says it
    assert frames[LINE]["face_box"] == [700, 500, 800, 600] and frames[LINE]["face_box_source"] == "face_file"
    assert frames[LINE]["det_status"] == "ok" and frames[LINE]["det_source"] in WITHOUT_A_BOX


def _all_lines_used(kind: str) -> Callable[[dict, list[dict]], None]:
    def check(row: dict, frames: list[dict]) -> None:
        _repairs((1, kind, "stripped"))(row, frames)
        assert {f["face_box_source"] for f in frames} == {"face_file"}
        assert all(f["det_source"] in FROM_THE_BOX for f in frames if f["det_status"] == "ok")

    return check


def _all_faces_in_their_boxes(row: dict, frames: list[dict]) -> None:
    assert row["n_ok"] == row["n_frames"] == len(frames)
    # the .face boxes fit the decoded frames: none searched whole; the first frame by the cascade in its region
    assert {f["det_source"] for f in frames} <= FROM_THE_BOX and frames[0]["det_source"] == "roi"


def _no_face_file(row: dict, frames: list[dict]) -> None:
    assert row["face_lines"] is None and row["face_repairs"] == []
    assert {f["face_box_source"] for f in frames} == {"no_face_file"}
    assert row["n_ok"] == N_FRAMES


def _more_lines(row: dict, frames: list[dict]) -> None:
    assert (row["face_lines"], row["source_frames"], row["n_frames"]) == (
        N_FRAMES + EXTRA_FACE_LINES,
        N_FRAMES,
        N_FRAMES,
    )
    assert row["face_repairs"] == [] and {f["face_box_source"] for f in frames} == {"face_file"}


VIDEO_EXPECT: dict[str, Expect] = {
    "video_zero_bytes": Expect("empty_file", "101-1-1-1-1.mov is empty (0 bytes)"),
    "video_truncated": Expect(
        "corrupt", "cannot open 102-1-1-1-1.mov as a video: it is truncated: the file ends at byte "
    ),
    "video_text_file": Expect(
        "corrupt",
        "cannot open 103-1-1-1-1.mov as a video: it is not a QuickTime/MP4 video (it starts with b'These are my not')",
    ),
    "video_no_frames": Expect(
        "corrupt", "cannot open 104-1-1-1-1.mov as a video: it holds no video track (no frame was recorded)"
    ),
    "video_4k_frames": Expect(
        "ok", None, columns={"width": 3840, "height": 2160, "n_frames": 4}, check=_all_faces_in_their_boxes
    ),
    # OpenCV applies the display matrix: frames come upright, in display size, and match the .face boxes
    "video_rotation_metadata": Expect(
        "ok", None, columns={"width": 640, "height": 480, "n_frames": N_FRAMES}, check=_all_faces_in_their_boxes
    ),
    "face_missing": Expect(
        "no_face_file",
        "no .face beside the video; faces searched on full frames",
        columns={"face_path": None},
        check=_no_face_file,
    ),
    "face_empty": Expect(
        "no_face_file",
        "108-1-1-1-1.face is empty (no line); faces searched on full frames",
        columns={"face_path": "Train/live/108/108-1-1-1-1.face"},
        check=_no_face_file,
    ),
    "face_non_numeric": Expect(
        "ok",
        None,
        note=rf"\.face: line {DEFECT_LINE} '\d+ \d+ abc \d+': not four integers, dropped$",
        check=_line_dropped("unparseable"),
    ),
    "face_negative_box": Expect(
        "ok",
        None,
        note=rf"\.face: line {DEFECT_LINE} '-40 -30 \d+ \d+': negative x1, y1 clamped to 0$",
        check=_negative_clamped,
    ),
    "face_out_of_frame": Expect(
        "ok",
        None,
        note=re.escape("1 .face boxes reach past the 640x480 frame (first: frame 2, [700, 500, 800, 600])") + "$",
        check=_out_of_frame,
    ),
    "face_x2_before_x1": Expect(
        "ok",
        None,
        note=rf"\.face: line {DEFECT_LINE} '\d+ \d+ \d+ \d+': not a box in the frame "
        r"\(x2 <= x1, y2 <= y1 or wholly above/left of it\), dropped$",
        check=_line_dropped("invalid_box"),
    ),
    "face_five_numbers": Expect(
        "ok",
        None,
        note=rf"\.face: line {DEFECT_LINE} '\d+ \d+ \d+ \d+ 1': not four integers, dropped$",
        check=_line_dropped("unparseable"),
    ),
    "face_crlf": Expect("ok", None, note=r"\.face: CRLF line ends read as LF$", check=_all_lines_used("crlf")),
    "face_utf8_bom": Expect("ok", None, note=r"\.face: UTF-8 BOM ignored$", check=_all_lines_used("bom")),
    "face_more_lines_than_frames": Expect(
        "ok",
        None,
        note=rf"{N_FRAMES + EXTRA_FACE_LINES} \.face lines for {N_FRAMES} decoded frames$",
        check=_more_lines,
    ),
    "name_not_siw": Expect("bad_name", "name '117-1-1-1.mov' does not match SSS-sensor-type-medium-session.mov"),
    "name_not_utf8": Expect(
        "bad_name", "the path is not valid UTF-8 (undecodable bytes are shown as \\xNN); rename it"
    ),
    "file_unreadable": Expect("unreadable", "cannot read Train/live/119/119-1-1-1-1.mov: Permission denied"),
    "file_symlink_loop": Expect(
        "unreadable", "cannot read Train/live/120/120-1-1-1-1.mov: Too many levels of symbolic links"
    ),
    "file_named_pipe": Expect(
        "unreadable", "Train/live/121/121-1-1-1-1.mov: it is a named pipe, not a regular file; not read"
    ),
    "file_duplicate_content": Expect(
        "duplicate_content",
        "same bytes as {copied}; not processed twice",  # {copied}: the sample video the corpus copied
        columns={"split": "train", "subject": 122},
    ),
}


def _single(user: str | None = None, **columns) -> Expect:
    """A photo registered as usual: one face found by the first pass, aligned."""
    expected = {"route": "single", "n_faces": 1, "detect_pass": "first", **columns}
    if user is not None:
        expected["user"] = user
    return Expect("ok", None, columns=expected, check=lambda row, _: _aligned(row))


def _aligned(row: dict) -> None:
    assert row["aligned"][:8] == b"\x89PNG\r\n\x1a\n" and len(row["landmarks"]) == 5


def _landscape(row: dict, _: list[dict]) -> None:
    assert row["width"] > row["height"]  # stored portrait; EXIF says turn it: decoded as displayed
    _aligned(row)


PHOTO_EXPECT: dict[str, Expect] = {
    "photo_not_image": Expect("not_image", "the bytes are not a JPEG or PNG image OpenCV can decode"),
    "photo_exif_rotated": Expect(
        "ok", None, columns={"route": "single", "n_faces": 1, "detect_pass": "first"}, check=_landscape
    ),
    "photo_1x1": Expect(
        "ok",
        None,
        columns={
            "route": "none",
            "n_faces": 0,
            "width": 1,
            "height": 1,
            "route_reason": "the image is 1x1 px, too small to hold a face",
        },
    ),
    "photo_greyscale": _single(),
    "photo_cmyk_jpeg": _single(),
    "photo_png_alpha": _single(),
    "photo_zero_bytes": Expect("empty_file", "the file is empty (0 bytes)"),
    "photo_unreadable": Expect("unreadable", "cannot read the file: Permission denied"),
    "photo_symlink_loop": Expect("unreadable", "cannot read the file: Too many levels of symbolic links"),
    "photo_named_pipe": Expect("unreadable", "it is a named pipe, not a regular file; not read"),
    "user_dots": _single("..dots.."),
    "user_space_unicode": _single("Zoë Ångström 李"),
    "user_newline": _single("new\nline"),
    "user_quote": _single("o'brien"),
    "user_not_utf8": Expect(
        "bad_name",
        "the path is not valid UTF-8 (undecodable bytes are shown as \\xNN); rename",
        columns={"user": "caf\\xe9", "path": "caf\\xe9/01.jpg"},
    ),
}


def test_the_corpus_covers_every_kind():
    assert set(VIDEO_EXPECT) == set(VIDEO_KINDS)
    assert len(VIDEO_EXPECT) + len(PHOTO_EXPECT) >= 20


@pytest.mark.parametrize("which", ["videos", "photos"])
def test_the_unreadable_file_is_unreadable_to_the_jobs(request, which):
    """What the corpus runs are held to: a job started as they start theirs cannot open the mode-000 file,
    even when the tests run as root (reading it is what would make its row `ok`)."""
    runs: Runs = request.getfixturevalue(which)
    item = runs.trees.items["file_unreadable" if which == "videos" else "photo_unreadable"]
    path = runs.trees.corpus / item.path
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0 and os.path.getsize(path) > 0
    opened = subprocess.run(
        [*without_root_file_access(), sys.executable, "-c", "import sys; open(sys.argv[1], 'rb')", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert opened.returncode == 1 and "PermissionError: [Errno 13] Permission denied" in opened.stderr, opened.stderr


def _summary_line(log: str, marker: str) -> str:
    """The one log line holding `marker` (a summary entry)."""
    found = [line for line in log.splitlines() if marker in line]
    assert len(found) == 1, (marker, found)
    return found[0]


def _check_kind(runs: Runs, kind: str, expect: Expect, *, spec, key_column: str, failure_marker: str) -> None:
    item = runs.trees.items[kind]
    rows = runs.rows(spec, key_column)
    assert item.key in rows, (item.key, sorted(rows))
    row = rows[item.key]
    assert row["status"] == expect.status, row["status_reason"]
    reason = None if expect.reason is None else expect.reason.replace("{copied}", str(runs.trees.good[0]))
    if reason is None:
        assert row["status_reason"] is None
    else:
        assert reason in row["status_reason"]
    assert row["path"] == item.path and row["source_present"] is True
    assert {k: row[k] for k in expect.columns} == expect.columns
    frames = []
    if spec is VIDEOS:
        frames = _frames_of(runs.corpus, item.key)
        if expect.status in NOT_PROCESSED:
            assert frames == [] and row["n_frames"] is None
        else:
            assert [f["frame_index"] for f in frames] == list(range(row["n_frames"]))
    if expect.status != "ok":  # listed among the run summary's failures, with its reason
        assert reason in _summary_line(runs.log, failure_marker.format(status=expect.status, key=item.key))
    if expect.note is not None:
        note = _summary_line(runs.log, f"note: {item.key}: ")
        assert re.search(expect.note, note), (expect.note, note)
    elif spec is VIDEOS:
        assert f"note: {item.key}: " not in runs.log
    if expect.check is not None:
        expect.check(row, frames)


def _frames_of(lake: Lake, video_id: str) -> list[dict]:
    frames = lake.read(FRAMES)
    rows = frames.filter(pc.equal(frames.column("video_id"), video_id)).sort_by("frame_index")
    return rows.drop_columns(["aligned", "crop"]).to_pylist()


@pytest.mark.parametrize("kind", list(VIDEO_EXPECT))
def test_bad_video_kind(videos, kind):
    _check_kind(
        videos, kind, VIDEO_EXPECT[kind], spec=VIDEOS, key_column="video_id", failure_marker="  {status}: {key}: "
    )


@pytest.mark.parametrize("kind", list(PHOTO_EXPECT))
def test_bad_photo_kind(photos, kind):
    _check_kind(
        photos, kind, PHOTO_EXPECT[kind], spec=PHOTOS, key_column="photo_id", failure_marker="FAILED {key}: {status}: "
    )


# ------------------------------------------------------------------ the run as a whole


def _keyed(table: pa.Table, key: str, keys: set[str]) -> pa.Table:
    return table.filter(pc.is_in(table.column(key), pa.array(sorted(keys))))


def _good_items_as_in_a_clean_run(runs: Runs, tables: list[tuple], key: str) -> None:
    good = set(runs.clean.read(tables[0][0]).column(key).to_pylist())
    bad = {i.key for i in runs.trees.items.values()}
    # every item has its row: none lost, none extra
    assert set(runs.corpus.read(tables[0][0]).column(key).to_pylist()) == good | bad and not good & bad
    for spec, keys in tables:
        clean = runs.clean.read(spec)
        assert table_checksum(
            _keyed(runs.corpus.read(spec), key, good), keys=keys, exclude=RUN_SPECIFIC
        ) == table_checksum(clean, keys=keys, exclude=RUN_SPECIFIC), spec.name


def test_good_videos_end_as_in_a_clean_run(videos):
    _good_items_as_in_a_clean_run(videos, [(VIDEOS, ["video_id"]), (FRAMES, ["video_id", "frame_index"])], "video_id")


def test_good_photos_end_as_in_a_clean_run(photos):
    _good_items_as_in_a_clean_run(photos, [(PHOTOS, ["photo_id"])], "photo_id")


@pytest.mark.parametrize("which", ["videos", "photos"])
def test_strict_run_exits_1_with_the_same_rows(request, which):
    runs: Runs = request.getfixturevalue(which)  # the fixture ran `--strict` on the sub-corpus and required exit code 1
    key = "video_id" if which == "videos" else "photo_id"
    tables = [(VIDEOS, [key]), (FRAMES, [key, "frame_index"])] if which == "videos" else [(PHOTOS, [key])]
    strict_keys = set(runs.strict.read(tables[0][0]).column(key).to_pylist())
    failing = {runs.trees.items[kind].key for kind in runs.strict_kinds}
    good = strict_keys - failing
    # every failing kind is there, and one good item that ends as in the clean run
    assert failing <= strict_keys and len(good) == 1
    assert good <= set(runs.clean.read(tables[0][0]).column(key).to_pylist())
    for spec, keys in tables:
        assert table_checksum(runs.strict.read(spec), keys=keys, exclude=RUN_SPECIFIC) == table_checksum(
            _keyed(runs.corpus.read(spec), key, strict_keys), keys=keys, exclude=RUN_SPECIFIC
        ), spec.name
    # the run went on past every failure and recorded each, as the corpus run did
    [run] = runs.strict.read(RUNS).to_pylist()
    assert run["status"] == "succeeded"
    corpus = runs.rows(tables[0][0], key)
    assert {tuple(f) for f in json.loads(run["counts_json"])["failures"]} == {
        (k, corpus[k]["status"], corpus[k]["status_reason"]) for k in failing
    }


def test_ingest_summary_lists_every_failure(videos):
    failed = {r["video_id"]: r for r in videos.rows(VIDEOS, "video_id").values() if r["status"] != "ok"}
    listed = [
        line.split(": ", 3)[2:]
        for line in videos.log.splitlines()
        if any(f"  {r['status']}: {vid}: " in line for vid, r in failed.items())
    ]
    assert sorted(vid for vid, _ in listed) == sorted(failed)
    assert all(reason == failed[vid]["status_reason"] for vid, reason in listed)


def test_ingest_run_row_records_the_failures_and_counts_the_notes(videos):
    run = min((r for r in videos.corpus.read(RUNS).to_pylist() if r["job"] == "ingest"), key=lambda r: r["started_at"])
    counts = json.loads(run["counts_json"])
    failed = {
        vid: (r["status"], r["status_reason"])
        for vid, r in videos.rows(VIDEOS, "video_id").items()
        if r["status"] != "ok"
    }
    assert {vid: (status, reason) for vid, status, reason in counts["failures"]} == failed
    assert counts["notes"] == sum(1 for line in videos.log.splitlines() if "  note: " in line) > 0


def test_register_summary_lists_every_failure(photos):
    failed = {r["photo_id"] for r in photos.rows(PHOTOS, "photo_id").values() if r["status"] != "ok"}
    listed = {line.split("FAILED ", 1)[1].split(": ", 1)[0] for line in photos.log.splitlines() if "FAILED " in line}
    assert listed == failed


@pytest.mark.parametrize("which", ["videos", "photos"])
def test_the_source_tree_is_unchanged(request, which):
    runs: Runs = request.getfixturevalue(which)
    assert runs.state_after == runs.state_before


def test_an_ingest_rerun_adds_nothing(videos):
    version = videos.corpus.version(VIDEOS), videos.corpus.version(FRAMES)
    log = _ingest(videos.trees.corpus, Path(videos.corpus.root))
    assert "0 processed" in log and "video status (this run): none" in log
    assert (videos.corpus.version(VIDEOS), videos.corpus.version(FRAMES)) == version


# ------------------------------------------------------------------ the product pieces, fast


def test_negative_face_coordinates_are_clamped_or_dropped():
    from etl.sources.face_file import describe_repairs, parse_face_text

    ann = parse_face_text("-40 -30 200 210\n-50 -60 -10 -20\n10 -5 20 -1\n-5  200 210\n100 100 200 210\n")
    assert ann.boxes == [(0, 0, 200, 210), None, None, (0, 100, 200, 210), (100, 100, 200, 210)]
    assert ann.sources == ["repaired", "invalid_box", "invalid_box", "repaired", "face_file"]
    assert [(r["line"], r["kind"], r["position"], r["value"], r["method"]) for r in ann.repairs] == [
        (1, "negative_coordinate", 0, 0, "clamped"),
        (1, "negative_coordinate", 1, 0, "clamped"),
        (2, "invalid_box", None, None, "dropped"),
        (3, "invalid_box", None, None, "dropped"),
        (4, "missing_number", 1, 100, "interpolated"),
        (4, "negative_coordinate", 0, 0, "clamped"),
    ]
    assert describe_repairs(ann.repairs, limit=2) == (
        "line 1 '-40 -30 200 210': negative x1, y1 clamped to 0; line 2 '-50 -60 -10 -20': not a box in the frame "
        "(x2 <= x1, y2 <= y1 or wholly above/left of it), dropped; 3 more"
    )


def _mov(*boxes: tuple[bytes, bytes]) -> bytes:
    return b"".join((8 + len(payload)).to_bytes(4, "big") + kind + payload for kind, payload in boxes)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "it is not a QuickTime/MP4 video (it starts with b'')"),
        (
            _mov((b"ftyp", b"qt  "), (b"mdat", b"\0" * 32)),
            "it has no 'moov' index (the recording was not finished, or the file was cut)",
        ),
        (
            _mov((b"ftyp", b"qt  "))[:-2],
            "it is truncated: the file ends at byte 10, inside its 'ftyp' box that should end at byte 12",
        ),
        (
            _mov((b"ftyp", b"qt  ")) + b"\0\0\0\x04free",
            "it is damaged: the 'free' box at byte 12 has an impossible size",
        ),
        (
            _mov((b"ftyp", b"qt  "), (b"moov", _mov((b"mvhd", b"\0" * 16)))),
            "it holds no video track (no frame was recorded)",
        ),
        (
            _mov((b"ftyp", b"qt  "), (b"moov", _mov((b"trak", _mov((b"hdlr", b"\0" * 8 + b"soun")))))),
            "it holds no video track (no frame was recorded)",
        ),
        (
            _mov((b"ftyp", b"qt  "), (b"moov", _mov((b"trak", _mov((b"hdlr", b"\0" * 8 + b"vide")))))),
            "its video stream cannot be decoded (an unsupported codec or damaged data)",
        ),
    ],
)
def test_why_a_video_does_not_open(tmp_path, data, reason):
    from etl.sources.decode import VideoDecodeError, diagnose_container, probe_video

    path = tmp_path / "x.mov"
    path.write_bytes(data)
    assert diagnose_container(path) == reason
    with pytest.raises(VideoDecodeError, match=re.escape(f"cannot open x.mov as a video: {reason}")):
        probe_video(path)


def _siw(root: Path, rel: str, data: bytes, face: str | None = "100 100 200 200\n") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if face is not None:
        path.with_suffix(".face").write_text(face)


def test_copies_are_found_by_their_whole_bytes_and_the_next_copy_takes_over(tmp_path):
    from etl.sources.siw_tree import FINGERPRINT_EDGE_BYTES, scan_source

    edge = b"e" * FINGERPRINT_EDGE_BYTES
    first, copy, lookalike = (
        "Train/live/001/001-1-1-1-1.mov",
        "Train/live/002/002-1-1-1-1.mov",
        "Train/live/003/003-1-1-1-1.mov",
    )
    _siw(tmp_path, first, edge + b"same middle" + edge)
    _siw(tmp_path, copy, edge + b"same middle" + edge, face="0 0 0 0\n")  # another .face: still the same video
    _siw(tmp_path, lookalike, edge + b"diff middle" + edge)  # same size and edges, other bytes
    videos = {v.rel_path: v for v in scan_source(tmp_path).videos}
    assert videos[first].processable and videos[lookalike].processable
    assert (videos[copy].status, videos[copy].video_id) == ("duplicate_content", copy)
    assert videos[copy].status_reason == f"same bytes as {first}; not processed twice"
    (tmp_path / first).unlink()
    videos = {v.rel_path: v for v in scan_source(tmp_path).videos}
    assert videos[copy].processable and videos[copy].video_id == copy[: -len(".mov")]


def test_empty_face_file_means_no_usable_face_file(tmp_path):
    from etl.sources.siw_tree import scan_source

    _siw(tmp_path, "Train/live/001/001-1-1-1-1.mov", b"v" * 10, face="")
    (video,) = scan_source(tmp_path).videos
    assert video.processable and video.annotations is None
    assert video.face_rel_path == "Train/live/001/001-1-1-1-1.face"
    assert video.face_error == "Train/live/001/001-1-1-1-1.face is empty (no line)"


def test_special_files_are_never_opened(tmp_path):
    from etl.sources.photo_tree import scan_photo_tree
    from etl.sources.siw_tree import scan_source

    (tmp_path / "siw/Train/live/001").mkdir(parents=True)
    os.mkfifo(tmp_path / "siw/Train/live/001/001-1-1-1-1.mov")  # opening it would block the scan forever
    (tmp_path / "photos/ann").mkdir(parents=True)
    os.mkfifo(tmp_path / "photos/ann/01.jpg")
    (video,) = scan_source(tmp_path / "siw").videos
    assert (video.status, video.fingerprint) == ("unreadable", None)
    (photo,) = scan_photo_tree(tmp_path / "photos").photos
    assert (photo.status, photo.status_reason) == ("unreadable", "it is a named pipe, not a regular file; not read")
