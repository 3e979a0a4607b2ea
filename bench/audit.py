"""Audit benchmark: facelake's SQL audit vs the notes' folder-counting analysis, same content.

(a) baseline, the notes' "图片数据分析": a folder tree
    `orign_frame/{Train,Test}/{live,spoof}/SSS/<video>/<i>.png` (one empty file per
    decoded frame) and `detect_frame/...` (one per frame with an aligned face), walked
    with os.listdir: per-video counts into two pandas Series, concat, `sub = original -
    detect`, describe(), the 10 worst videos, the videos with no detection, and the size
    estimate from os.stat of the files of 120 sampled videos × count. (The notes use
    glob2.glob; stdlib glob.glob matches these patterns the same way.)
(b) facelake: a lake whose `frames` (N rows) and `videos` tables hold the same synthetic
    SiW-shaped content, written through etl.lake.Lake; timed: the full audit
    (`run_audit` over every query in queries/ present at run time) and the notes'
    subset written as SQL on one `etl.query.connect` connection.

Both inputs are built under --work and reused when they exist with the same --rows and
--seed (building ~2M files takes minutes). Prints a Markdown table on stdout; the rest
is logged to stderr. The baseline needs pandas, which facelake does not install:

    .venv/bin/python -m pip install pandas
    .venv/bin/python bench/audit.py [--rows 1000000] [--repeat 5] [--seed 0] [--work DIR]
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

log = logging.getLogger("bench.audit")

FORMAT = 1  # bump when the synthetic content changes, so old --work folders are rebuilt
FRAMES_PER_VIDEO = 223  # SiW: ~1M decoded frames over 4,478 videos
CHUNK_ROWS = 200_000
SUBJECTS, TRAIN_SUBJECTS = 165, 90
ATTACK_TYPES = {1: "live", 2: "print", 3: "replay"}
PNG_PLACEHOLDER = b"\x89PNG\r\n\x1a\n"
OK, NO_FACE, LOW_SCORE = 0, 1, 2
STATUSES = ["ok", "no_face", "low_score"]
# per-frame .face line: face_file and repaired give a box, the others none
BOX_SOURCES = ["face_file", "zero_box", "missing_line", "repaired", "unparseable"]
FACE_FILE, ZERO_BOX, MISSING_LINE, REPAIRED, UNPARSEABLE = range(5)
# 5 landmarks (eyes, nose, mouth corners) as fractions of the face box
LANDMARK_TEMPLATE = np.array([[0.31, 0.40], [0.69, 0.40], [0.50, 0.58], [0.35, 0.76], [0.65, 0.76]])


def require_pandas():
    try:
        import pandas
    except ImportError:
        sys.exit("bench/audit.py: the baseline (the notes' analysis) needs pandas, which facelake does not install; "
                 "run `.venv/bin/python -m pip install pandas` and retry")
    return pandas


# --- synthetic content -------------------------------------------------------------------

@dataclass
class Content:
    """Per video (arrays of length V) and per frame (length N) facts shared by both inputs."""

    video_ids: list[str]
    subject: np.ndarray
    type_id: np.ndarray
    sensor: np.ndarray
    medium: np.ndarray
    session: np.ndarray
    n_frames: np.ndarray
    start: np.ndarray  # first frame row of each video
    face_lines: np.ndarray
    zero_lines: np.ndarray
    repairs: list[list[dict]]
    vidx: np.ndarray  # per frame: its video
    frame_index: np.ndarray
    status: np.ndarray  # OK | NO_FACE | LOW_SCORE
    box_source: np.ndarray  # index into BOX_SOURCES

    @property
    def split(self) -> np.ndarray:
        return np.where(self.subject <= TRAIN_SUBJECTS, "train", "test")

    @property
    def label(self) -> np.ndarray:
        return np.where(self.type_id == 1, "live", "spoof")


def pick_videos(n_videos: int, rng: np.random.Generator) -> np.ndarray:
    """(subject, type, sensor, medium, session) rows, sorted, drawn from all SiW-style names."""
    grid = np.stack(np.meshgrid(np.arange(1, SUBJECTS + 1), [1, 2, 3], [1, 2], [1, 2, 3, 4], [1, 2, 3], indexing="ij"), -1)
    grid = grid.reshape(-1, 5)
    if n_videos > len(grid):
        raise SystemExit(f"--rows asks for {n_videos} videos; the SiW naming gives at most {len(grid)} "
                         f"(--rows up to {len(grid) * FRAMES_PER_VIDEO})")
    return grid[np.sort(rng.choice(len(grid), n_videos, replace=False))]


def video_id(subject: int, type_id: int, sensor: int, medium: int, session: int) -> str:
    split = "Train" if subject <= TRAIN_SUBJECTS else "Test"
    label = "live" if type_id == 1 else "spoof"
    return f"{split}/{label}/{subject:03d}/{subject:03d}-{sensor}-{type_id}-{medium}-{session}"


def frame_counts(rows: int, n_videos: int, rng: np.random.Generator) -> np.ndarray:
    """Frames per video, ~0.6-1.4 × the mean, summing to exactly `rows`."""
    weights = rng.uniform(0.6, 1.4, n_videos)
    counts = np.floor(weights / weights.sum() * rows).astype(np.int64)
    counts[rng.choice(n_videos, rows - counts.sum(), replace=False)] += 1
    return counts


def missed_frames(n_frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Frames without an aligned face per video: mostly 0-few, some 100-200, a few all."""
    n = len(n_frames)
    misses = np.where(rng.random(n) < 0.55, 0, rng.geometric(0.2, n))
    heavy = rng.random(n) < 0.015
    misses[heavy] = np.minimum(rng.integers(100, 201, heavy.sum()), np.maximum(n_frames[heavy] - 20, 0))
    none_ok = rng.choice(n, max(1, round(n * 0.002)) if n > 1 else 0, replace=False)
    misses[none_ok] = n_frames[none_ok]
    return np.minimum(misses, n_frames)


def rank_in_video(vidx: np.ndarray, start: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of 0..n-1 within each video (vectorised)."""
    order = np.lexsort((rng.random(len(vidx)), vidx))
    rank = np.empty(len(vidx), dtype=np.int64)
    rank[order] = np.arange(len(vidx)) - start[vidx[order]]
    return rank


def face_file_repairs(zero: int, lines: int, n_frames: int, rng: np.random.Generator) -> list[dict]:
    """1-3 repaired or dropped `.face` lines, on lines that otherwise hold a box."""
    first, last = zero, min(lines, n_frames)
    picked = np.sort(rng.choice(np.arange(first, last), min(rng.integers(1, 4), last - first), replace=False))
    repairs = []
    for index in picked:
        if rng.random() < 0.8:
            repairs.append({"line": int(index) + 1, "kind": "missing_number", "original": "812  1120 1306",
                            "position": int(rng.integers(0, 4)), "value": int(rng.integers(300, 1500)), "method": "interpolated"})
        else:
            repairs.append({"line": int(index) + 1, "kind": "unparseable", "original": "812 x 1120 1306",
                            "position": None, "value": None, "method": "dropped"})
    return repairs


def make_content(rows: int, seed: int) -> Content:
    rng = np.random.default_rng([seed, 1])
    n_videos = max(1, round(rows / FRAMES_PER_VIDEO))
    names = pick_videos(n_videos, rng)
    n_frames = frame_counts(rows, n_videos, rng)
    start = np.concatenate([[0], np.cumsum(n_frames)[:-1]])
    vidx = np.repeat(np.arange(n_videos), n_frames)
    frame_index = np.arange(rows) - start[vidx]

    missed = rank_in_video(vidx, start, rng) < missed_frames(n_frames, rng)[vidx]
    status = np.where(missed, np.where(rng.random(rows) < 0.65, NO_FACE, LOW_SCORE), OK).astype(np.int8)

    zero_lines = np.where(rng.random(n_videos) < 0.03, rng.integers(1, 6, n_videos), 0)
    face_lines = n_frames.copy()
    short, long = rng.random(n_videos) < 0.01, rng.random(n_videos) < 0.005
    face_lines[short] -= rng.integers(1, 13, short.sum())
    face_lines[long & ~short] += rng.integers(1, 4, (long & ~short).sum())
    repaired = rng.random(n_videos) < 0.04
    repairs = [face_file_repairs(zero_lines[v], face_lines[v], n_frames[v], rng) if repaired[v] else []
               for v in range(n_videos)]

    box_source = np.full(rows, FACE_FILE, dtype=np.int8)
    box_source[frame_index < zero_lines[vidx]] = ZERO_BOX
    box_source[frame_index >= face_lines[vidx]] = MISSING_LINE
    for v, entries in enumerate(repairs):
        for entry in entries:
            box_source[start[v] + entry["line"] - 1] = REPAIRED if entry["method"] != "dropped" else UNPARSEABLE

    return Content(
        video_ids=[video_id(*map(int, name)) for name in names],
        subject=names[:, 0], type_id=names[:, 1], sensor=names[:, 2], medium=names[:, 3], session=names[:, 4],
        n_frames=n_frames, start=start, face_lines=face_lines, zero_lines=zero_lines, repairs=repairs,
        vidx=vidx, frame_index=frame_index, status=status, box_source=box_source,
    )


# --- (a) the notes' folder tree ----------------------------------------------------------

def touch_frames(folder: Path, indices: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        for index in indices:
            os.close(os.open(f"{index}.png", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd))
    finally:
        os.close(fd)


def build_tree(content: Content, root: Path) -> dict:
    """orign_frame/: a file per frame; detect_frame/: a file per ok frame (empty folder if none)."""
    files = 0
    for v, vid in enumerate(content.video_ids):
        frames = slice(content.start[v], content.start[v] + content.n_frames[v])
        indices, ok = content.frame_index[frames], content.status[frames] == OK
        touch_frames(root / "orign_frame" / vid, indices)
        touch_frames(root / "detect_frame" / vid, indices[ok])
        files += len(indices) + int(ok.sum())
        if (v + 1) % 500 == 0:
            log.info("tree: %d/%d videos, %d files", v + 1, len(content.video_ids), files)
    return {"files": files}


# --- (b) the lake ------------------------------------------------------------------------

def labels(vocabulary: list[str], codes: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """A string array from integer codes into `vocabulary`; null where `mask` is true."""
    return pa.array(vocabulary).take(pa.array(codes, mask=mask))


def list_array(values: np.ndarray, dtype: pa.DataType, mask: np.ndarray | None = None) -> pa.Array:
    """A list array from a (n, k) matrix; an outer list of lists when values is (n, k, m)."""
    n, k = values.shape[:2]
    inner = list_array(values.reshape(n * k, -1), dtype) if values.ndim == 3 else pa.array(values.ravel(), type=dtype)
    offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, inner, mask=None if mask is None else pa.array(mask))


def frames_table(content: Content, seed: int) -> pa.Table:
    rng = np.random.default_rng([seed, 2])
    n, vidx, status = len(content.vidx), content.vidx, content.status
    n_videos = len(content.video_ids)

    # a face that drifts a little around its place in each 1920x1080 video
    side = (rng.uniform(260, 520, n_videos)[vidx] + rng.normal(0, 4, n)).reshape(-1, 1)
    centre = np.stack([rng.uniform(760, 1160, n_videos)[vidx], rng.uniform(380, 640, n_videos)[vidx]], 1) + rng.normal(0, 6, (n, 2))
    latent = np.concatenate([centre - side / 2, centre + side / 2], 1)
    has_box = np.isin(content.box_source, [FACE_FILE, REPAIRED])
    found = status != NO_FACE
    det_box = latent + rng.normal(0, 4, (n, 4))
    det_box[rng.random(n) < 0.002, 0::2] += side[:, 0].mean() * 0.7  # now and then the detector picks something else
    landmarks = det_box[:, None, :2] + LANDMARK_TEMPLATE[None] * side[:, None, :] + rng.normal(0, side[:, None, :] * 0.01, (n, 5, 2))
    score = np.where(status == OK, 0.8 + 0.2 * rng.beta(5, 1, n), rng.uniform(0.35, 0.8, n))
    full_frame = ~has_box | (rng.random(n) < 0.02)
    # spoof replays are blurrier; nothing is scored without any box
    lapvar = rng.lognormal(np.log(np.where(content.type_id == 3, 45.0, 90.0))[vidx], 0.5)
    scored = found | has_box
    ok = status == OK

    rows_of = pa.array(vidx)
    per_video = lambda values, dtype: pa.array(values, type=dtype).take(rows_of)  # noqa: E731
    return pa.table({
        "video_id": per_video(content.video_ids, pa.string()),
        "frame_index": pa.array(content.frame_index, type=pa.int32()),
        "split": per_video(content.split, pa.string()),
        "label": per_video(content.label, pa.string()),
        "attack_type": labels(["", "live", "print", "replay"], content.type_id[vidx]),
        "subject": per_video(content.subject, pa.int32()),
        "sensor": per_video(content.sensor, pa.int32()),
        "medium": per_video(content.medium, pa.int32()),
        "session": per_video(content.session, pa.int32()),
        "face_box": list_array(np.round(latent).astype(np.int32), pa.int32(), mask=~has_box),
        "face_box_source": labels(BOX_SOURCES, content.box_source),
        "det_status": labels(STATUSES, status),
        "det_source": labels(["roi", "full_frame"], full_frame.astype(np.int8), mask=~found),
        "det_score": pa.array(score.astype(np.float32), mask=~found),
        "det_box": list_array(det_box.astype(np.float32), pa.float32(), mask=~found),
        "landmarks": list_array(landmarks.astype(np.float32), pa.float32(), mask=~found),
        "aligned": pc.if_else(pa.array(ok), pa.scalar(PNG_PLACEHOLDER), pa.scalar(None, pa.binary())),
        "crop": pa.nulls(n, pa.binary()),
        "crop_format": pa.nulls(n, pa.string()),
        "sharpness_lapvar": pa.array(lapvar.astype(np.float32), mask=~scored),
        "sharpness_count": pa.array(np.round(lapvar * 11 + rng.normal(0, 40, n)).clip(0).astype(np.int32), mask=~scored),
        "detector": pa.array(np.full(n, "mtcnn")),
        "detector_version": pa.array(np.full(n, "1.0.0")),
        "run_id": pa.array(np.full(n, "bench-audit-synthetic")),
    })


def videos_table(content: Content, seed: int) -> pa.Table:
    from schemas import VIDEOS

    rng = np.random.default_rng([seed, 3])
    n = len(content.video_ids)
    n_ok = np.bincount(content.vidx, weights=content.status == OK, minlength=n).astype(np.int32)
    processed = datetime(2024, 3, 1, tzinfo=timezone.utc)
    rows = {
        "video_id": content.video_ids,
        "source_root": ["/data/SiW"] * n,
        "path": [f"{vid}.mov" for vid in content.video_ids],
        "name_form": ["plain"] * n,
        "split": content.split,
        "label": content.label,
        "attack_type": [ATTACK_TYPES[int(t)] for t in content.type_id],
        "subject": content.subject, "sensor": content.sensor, "type_id": content.type_id,
        "medium": content.medium, "session": content.session,
        "size_bytes": (content.n_frames * rng.uniform(90_000, 160_000, n)).astype(np.int64),
        "fingerprint": [hashlib.sha1(vid.encode()).hexdigest() for vid in content.video_ids],
        "face_path": [f"{vid}.face" for vid in content.video_ids],
        "face_lines": content.face_lines, "face_zero_lines": content.zero_lines,
        "face_repairs": content.repairs,
        "n_face_repairs": [len(r) for r in content.repairs],
        "stream_frames": content.n_frames, "fps": np.full(n, 30.0),
        "width": np.full(n, 1920), "height": np.full(n, 1080),
        "n_frames": content.n_frames, "n_ok": n_ok,
        "status": ["ok"] * n, "status_reason": [None] * n, "source_present": [True] * n,
        "config_hash": ["bench-audit"] * n, "run_id": ["bench-audit-synthetic"] * n,
        "processed_at": [processed + timedelta(seconds=40 * v) for v in range(n)],
    }
    return pa.table({name: pa.array(rows[name], type=VIDEOS.schema.field(name).type) for name in VIDEOS.schema.names})


def write_lake(content: Content, root: Path, seed: int) -> dict:
    from etl.lake import Lake
    from schemas import FRAMES, VIDEOS

    lake = Lake(str(root))
    for spec in (FRAMES, VIDEOS):
        lake.ensure(spec)
    frames = frames_table(content, seed)
    for offset in range(0, frames.num_rows, CHUNK_ROWS):
        lake.append(FRAMES, frames.slice(offset, CHUNK_ROWS))
        log.info("lake: frames %d/%d rows", min(offset + CHUNK_ROWS, frames.num_rows), frames.num_rows)
    lake.append(VIDEOS, videos_table(content, seed))
    size, files = disk_usage(root)
    return {"bytes": size, "files": files}


def disk_usage(root: Path) -> tuple[int, int]:
    """(bytes, files) under root."""
    total = files = 0
    for directory, _, names in os.walk(root):
        for name in names:
            total += (Path(directory) / name).stat().st_size
            files += 1
    return total, files


def prepared(path: Path, params: dict, build: Callable[[Path], dict]) -> dict:
    """Build `path` unless its marker (`path`.json) says it was built with `params`; the
    marker also keeps what the build measured (seconds, files, bytes)."""
    marker = path.with_name(path.name + ".json")
    if marker.is_file() and path.is_dir():
        saved = json.loads(marker.read_text())
        if saved.get("params") == params:
            log.info("reusing %s (built in %.1f s)", path, saved["seconds"])
            return {**saved, "reused": True}
    marker.unlink(missing_ok=True)
    shutil.rmtree(path, ignore_errors=True)
    log.info("building %s", path)
    started = time.perf_counter()
    measured = build(path)
    saved = {"params": params, "seconds": time.perf_counter() - started, **measured}
    marker.write_text(json.dumps(saved))
    log.info("built %s in %.1f s: %s", path, saved["seconds"], measured)
    return {**saved, "reused": False}


# --- the audits --------------------------------------------------------------------------

def notes_audit(tree: Path) -> dict:
    """The notes' analysis, as written there, over both splits at once."""
    pd = require_pandas()
    sep = os.path.sep
    image_counts = lambda rr: {sep.join(os.path.relpath(ii, tree).split(sep)[1:]): len(os.listdir(ii)) for ii in glob.glob(rr)}  # noqa: E731
    dss = pd.Series(image_counts(str(tree / "detect_frame" / "*" / "*" / "*" / "*")), name="detect")
    oss = pd.Series(image_counts(str(tree / "orign_frame" / "*" / "*" / "*" / "*")), name="original")
    tt = pd.concat([dss, oss], axis=1, sort=False).fillna(0)
    tt.sort_values("detect").head(10)
    no_detection = list(tt[tt.detect == 0].index)  # the notes rmdir these; here they are only listed
    tt = tt[tt.detect != 0].copy()
    tt["sub"] = tt["original"] - tt["detect"]
    describe = tt["sub"].describe()
    worst = tt.sort_values("sub")[-10:]

    files_size = lambda dd: [os.stat(os.path.join(dd, ii)).st_size for ii in os.listdir(dd)]  # noqa: E731
    samples = tt.index[np.random.default_rng(0).choice(tt.shape[0], min(120, tt.shape[0]), replace=False)]
    estimates = {}
    for folder, column in (("detect_frame", "detect"), ("orign_frame", "original")):
        aa = [files_size(tree / folder / ii) for ii in samples]
        mm = np.mean([np.mean(ii) if ii else 0.0 for ii in aa])
        estimates[folder] = float(tt[column].sum() * mm)
    return {"videos": len(tt) + len(no_detection), "no_detection": len(no_detection), "describe": describe.to_dict(),
            "worst": list(worst.index), "estimates": estimates}


COUNTS = """WITH counts AS (
    SELECT video_id, count(*) AS original, count(*) FILTER (WHERE det_status = 'ok') AS detect,
           count(*) - count(*) FILTER (WHERE det_status = 'ok') AS sub
    FROM frames GROUP BY video_id)
"""
SUBSET_SQL = {
    "counts": "SELECT video_id, count(*) AS original, count(*) FILTER (WHERE det_status = 'ok') AS detect FROM frames GROUP BY video_id",
    "describe": COUNTS + """SELECT count(*) AS count, avg(sub) AS mean, stddev_samp(sub) AS std, min(sub) AS min,
        quantile_cont(sub, 0.25) AS q25, quantile_cont(sub, 0.5) AS q50, quantile_cont(sub, 0.75) AS q75, max(sub) AS max
        FROM counts WHERE detect > 0""",
    "worst": COUNTS + "SELECT * FROM counts WHERE detect > 0 ORDER BY sub DESC, video_id LIMIT 10",
    "no_detection": COUNTS + "SELECT video_id FROM counts WHERE detect = 0 ORDER BY video_id",
    # exact, not estimated: the bytes of the aligned faces, and the lake's files per table
    "size": """SELECT (SELECT sum(octet_length(aligned)) FROM frames WHERE det_status = 'ok') AS aligned_bytes,
        (SELECT sum(size_bytes) FROM lake_files) AS lake_bytes""",
}


def facelake_subset(lake) -> dict:
    """The notes' questions in facelake SQL, on one connection (connect included)."""
    from etl.query import connect, execute

    connection = connect(lake)
    try:
        results = {name: execute(connection, sql) for name, sql in SUBSET_SQL.items()}
    finally:
        connection.close()
    describe = results["describe"].to_pylist()[0]
    return {"videos": results["counts"].num_rows, "no_detection": results["no_detection"].num_rows, "describe": describe,
            "worst": results["worst"].column("video_id").to_pylist()}


def query_times(lake, names: list[str], repeat: int) -> dict[str, dict]:
    """Each audit query alone, on one connection per pass: median seconds, rows, or its error."""
    from etl.query import connect, execute, load_query

    times: dict[str, list[float]] = {name: [] for name in names}
    out: dict[str, dict] = {}
    for _ in range(repeat):
        connection = connect(lake)
        try:
            for name in names:
                if "error" in out.get(name, {}):
                    continue
                started = time.perf_counter()
                try:
                    table = execute(connection, load_query(name))
                except Exception as error:  # noqa: BLE001 - reported, not fatal: the benchmark goes on without it
                    out[name] = {"error": f"{type(error).__name__}: {error}"}
                    log.error("query %s fails on the synthetic lake: %s", name, out[name]["error"])
                    continue
                times[name].append(time.perf_counter() - started)
                out[name] = {"rows": table.num_rows}
        finally:
            connection.close()
    for name in names:
        if "error" not in out[name]:
            out[name]["seconds"] = statistics.median(times[name])
    return out


def drop_page_cache() -> None:
    """Empty Linux's page cache (root only), so the next run reads from disk."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as error:
        raise SystemExit(f"--cold needs root on Linux to write /proc/sys/vm/drop_caches: {error}") from error


def median_time(fn: Callable[[], object], repeat: int, what: str, *, cold: bool = False) -> tuple[float, object]:
    seconds, result = [], None
    for i in range(repeat):
        if cold:
            drop_page_cache()
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
        log.info("%s: run %d/%d %.3f s", what, i + 1, repeat, seconds[-1])
    return statistics.median(seconds), result


def check_same_answers(notes: dict, lake: dict) -> None:
    """The two approaches read the same content, so their answers must agree."""
    d = lake["describe"]
    pairs = {"videos": (notes["videos"], lake["videos"]), "no-detection videos": (notes["no_detection"], lake["no_detection"]),
             "sub count": (notes["describe"]["count"], d["count"]), "sub mean": (round(notes["describe"]["mean"], 6), round(d["mean"], 6)),
             "sub max": (notes["describe"]["max"], d["max"]), "sub 75%": (notes["describe"]["75%"], d["q75"])}
    for what, (a, b) in pairs.items():
        if a != b:
            log.warning("answers differ: %s: notes %s, facelake %s", what, a, b)
    log.info("notes and facelake agree on %s", ", ".join(w for w, (a, b) in pairs.items() if a == b))


# --- report ------------------------------------------------------------------------------

def report(args, base: float, full: float, subset: float, queries: dict, tree: dict, lake: dict) -> str:
    working = [n for n, q in queries.items() if "error" not in q]
    failing = [n for n, q in queries.items() if "error" in q]
    audit_what = f"the full audit: {len(working)} quer{'y' if len(working) == 1 else 'ies'} in queries/ ({', '.join(working)})"
    lines = [
        f"Audit benchmark: {args.rows:,} frames, {tree['videos']:,} videos, median of {args.repeat} runs",
        "",
        "| approach | what it answers | median s | speed-up vs baseline |",
        "|---|---|---|---|",
        f"| baseline: the notes (os.listdir + pandas over the folder tree) | per-video counts, describe, 10 worst, "
        f"no-detection videos, size estimate | {base:.3f} | 1.0× |",
        f"| facelake `run_audit` | {audit_what} | {full:.3f} | {base / full:.1f}× |",
        f"| facelake SQL, the notes' subset | the baseline's questions (sizes exact, not estimated) | {subset:.3f} | "
        f"{base / subset:.1f}× |",
        "",
        "| setup | seconds | on disk |",
        "|---|---|---|",
        f"| folder tree (orign_frame + detect_frame) | {tree['seconds']:.1f}{' (reused)' if tree['reused'] else ''} | "
        f"{tree['files']:,} files (empty) |",
        f"| lake (frames + videos, via Lake.append) | {lake['seconds']:.1f}{' (reused)' if lake['reused'] else ''} | "
        f"{lake['bytes'] / 1e6:.1f} MB in {lake['files']:,} files |",
        "",
        "| query | median s | rows |",
        "|---|---|---|",
    ]
    for name, q in queries.items():
        error = q.get("error", "").replace("|", "/").replace("\n", " ")
        lines.append(f"| {name} | {q['seconds']:.3f} | {q['rows']} |" if not error else f"| {name} | fails: {error} | |")
    lines += [
        "",
        f"- target, full audit ≥ 20× faster than the notes: {'met' if base / full >= 20 else 'NOT met'} ({base / full:.1f}×)",
        f"- target, audit under 2 s median (at 1M rows): {'met' if full < 2 else 'NOT met'} ({full:.3f} s at {args.rows:,} rows)",
        ("- cold page cache: dropped before every timed run of both approaches (--cold)" if args.cold else
         "- warm page cache: the tree and the lake were just built or read (--cold drops the cache before each run)"),
    ]
    if failing:
        lines.append(f"- left out of the timed audit because they fail on this data: {', '.join(failing)}")
    return "\n".join(lines)


def main() -> int:
    from jobs.logs import setup_logging

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="frames rows (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per approach; the median is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cold", action="store_true", help="drop the page cache before every timed run (root, Linux)")
    parser.add_argument("--work", type=Path, default=None, help="working folder, reused between runs (default: a temporary one)")
    args = parser.parse_args()
    setup_logging()
    require_pandas()
    if args.rows < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be at least 1")

    from etl.lake import Lake
    from etl.query import query_names
    from jobs.audit import run_audit

    work = args.work or Path(tempfile.mkdtemp(prefix="facelake-bench-audit-"))
    work.mkdir(parents=True, exist_ok=True)
    params = {"rows": args.rows, "seed": args.seed, "format": FORMAT}
    content = make_content(args.rows, args.seed)
    log.info("content: %d frames, %d videos, %d ok; work folder %s", args.rows, len(content.video_ids),
             int((content.status == OK).sum()), work)
    tree = prepared(work / "tree", params, lambda path: build_tree(content, path))
    lake_info = prepared(work / "lake", params, lambda path: write_lake(content, path, args.seed))
    tree["videos"] = len(content.video_ids)
    lake = Lake(str(work / "lake"))

    names = query_names()
    log.info("audit queries present: %s", ", ".join(names))
    queries = query_times(lake, names, args.repeat)
    working = [n for n in names if "error" not in queries[n]]

    base, notes = median_time(lambda: notes_audit(work / "tree"), args.repeat, "notes baseline", cold=args.cold)
    full, _ = median_time(lambda: run_audit(lake, working), args.repeat, "facelake full audit", cold=args.cold)
    subset, answers = median_time(lambda: facelake_subset(lake), args.repeat, "facelake notes subset", cold=args.cold)
    check_same_answers(notes, answers)
    sys.stdout.write(report(args, base, full, subset, queries, tree, lake_info) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
