"""Audit benchmark: facelake's SQL audit vs the notes' folder-counting analysis, same content.

(a) baseline, the notes' "图片数据分析": a folder tree
    `orign_frame/{Train,Test}/{live,spoof}/SSS/<video>/<i>.png` (one file per decoded
    frame, empty: like the lake, which stores no crops) and `detect_frame/...` (one per
    frame with an aligned face, holding that face's PNG, the same bytes as the lake's
    `aligned` cell), walked with os.listdir: per-video counts into two pandas Series,
    concat, `sub = original - detect`, describe(), the 10 worst videos, the videos with no
    detection, the size estimate from os.stat of the files of 120 sampled videos x count,
    and the notes' `du -hd1` of both folders per split (here: apparent bytes of the files,
    per split and label). (The notes use glob2.glob; stdlib glob.glob matches these
    patterns the same way.)
(b) facelake: a lake whose `frames` (N rows) and `videos` tables hold the same synthetic
    SiW-shaped content, written through etl.lake.lake.Lake; timed: the full audit
    (`run_audit` over every query in queries/ present at run time) and the notes'
    subset written as SQL on one `etl.lake.query.connect` connection.

Aligned faces are real: the face photos shipped in installed packages, aligned to the
ArcFace template, varied frame to frame and PNG-encoded by facelake's encoder (~20 KB a
face, as real aligned faces are; bench/aligned_faces.py), so the storage questions
(image_bytes_per_row, storage_by_partition, the notes' size estimate and du) see
realistic bytes and every query reads realistically sized files. A pool of
--distinct-faces distinct PNGs is cycled person by person: an image recurs only every
pool/8 frames of the same person, never within a Parquet page, so no compression can
fold them.

The answers must agree: a facelake query that raises, or an answer that differs from
the baseline's (per-video counts, describe(), the worst-10 list in order, the
no-detection videos, the bytes du reports), ends the benchmark with exit status 1 and
one line per difference. The notes' worst list is `sort_values('sub')[-10:]`, whose
order among equal `sub` is quicksort's; here ties go to the smaller video id, the order
facelake's worst_videos query uses. The notes' size estimate is an estimate: it is
reported against the exact bytes, not required to equal them.

Both inputs are built under --work and reused when they exist with the same --rows,
--seed and --distinct-faces (a temporary --work is removed at the end). Prints a
Markdown table on stdout (only when every answer agrees); the rest is logged to stderr;
--json writes every figure and check. The baseline needs pandas (the `bench` extra):

    .venv/bin/python -m pip install -e '.[bench]'
    .venv/bin/python bench/audit.py [--rows 50000] [--repeat 5] [--seed 0] [--distinct-faces 2048]
        [--work DIR] [--cold] [--json FILE]
"""

from __future__ import annotations

import argparse
import functools
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.audit_checks import (  # noqa: E402
    WORST,
    BenchFailure,
    compare_answers,
    estimate_against_exact,
)

log = logging.getLogger("bench.audit")

FORMAT = 2  # bump when the synthetic content changes, so old --work folders are rebuilt
DEFAULT_ROWS = 50_000
DEFAULT_DISTINCT_FACES = 2048
FRAMES_PER_VIDEO = 223  # SiW: ~1M decoded frames over 4,478 videos
CHUNK_ROWS = 25_000  # ~500 MB of aligned faces per Delta commit
SUBJECTS, TRAIN_SUBJECTS = 165, 90
ATTACK_TYPES = {1: "live", 2: "print", 3: "replay"}
OK, NO_FACE, LOW_SCORE = 0, 1, 2
STATUSES = ["ok", "no_face", "low_score"]
# per-frame .face line: face_file and repaired give a box, the others none
BOX_SOURCES = ["face_file", "zero_box", "missing_line", "repaired", "unparseable"]
FACE_FILE, ZERO_BOX, MISSING_LINE, REPAIRED, UNPARSEABLE = range(5)
# 5 landmarks (eyes, nose, mouth corners) as fractions of the face box
LANDMARK_TEMPLATE = np.array([[0.31, 0.40], [0.69, 0.40], [0.50, 0.58], [0.35, 0.76], [0.65, 0.76]])
TREE_FOLDERS = ("detect_frame", "orign_frame")


def require_pandas():
    try:
        import pandas
    except ImportError:
        sys.exit(
            "bench/audit.py: the baseline (the notes' analysis) needs pandas, which facelake does not install; "
            "run `.venv/bin/python -m pip install -e '.[bench]'` and retry"
        )
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
    grid = np.stack(
        np.meshgrid(np.arange(1, SUBJECTS + 1), [1, 2, 3], [1, 2], [1, 2, 3, 4], [1, 2, 3], indexing="ij"), -1
    )
    grid = grid.reshape(-1, 5)
    if n_videos > len(grid):
        raise SystemExit(
            f"--rows asks for {n_videos} videos; the SiW naming gives at most {len(grid)} "
            f"(--rows up to {len(grid) * FRAMES_PER_VIDEO})"
        )
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


def rank_in_group(group: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Per element, its rank 0..k-1 among the elements of its group: in a random order with
    `rng`, else in array order (vectorised)."""
    order = np.lexsort((rng.random(len(group)), group)) if rng is not None else np.argsort(group, kind="stable")
    sizes = np.bincount(group)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = np.arange(len(group)) - starts[group[order]]
    return rank


def face_file_repairs(zero: int, lines: int, n_frames: int, rng: np.random.Generator) -> list[dict]:
    """1-3 repaired or dropped `.face` lines, on lines that otherwise hold a box."""
    first, last = zero, min(lines, n_frames)
    picked = np.sort(rng.choice(np.arange(first, last), min(rng.integers(1, 4), last - first), replace=False))
    repairs = []
    for index in picked:
        if rng.random() < 0.8:
            repairs.append(
                {
                    "line": int(index) + 1,
                    "kind": "missing_number",
                    "original": "812  1120 1306",
                    "position": int(rng.integers(0, 4)),
                    "value": int(rng.integers(300, 1500)),
                    "method": "interpolated",
                }
            )
        else:
            repairs.append(
                {
                    "line": int(index) + 1,
                    "kind": "unparseable",
                    "original": "812 x 1120 1306",
                    "position": None,
                    "value": None,
                    "method": "dropped",
                }
            )
    return repairs


def make_content(rows: int, seed: int) -> Content:
    rng = np.random.default_rng([seed, 1])
    n_videos = max(1, round(rows / FRAMES_PER_VIDEO))
    names = pick_videos(n_videos, rng)
    n_frames = frame_counts(rows, n_videos, rng)
    start = np.concatenate([[0], np.cumsum(n_frames)[:-1]])
    vidx = np.repeat(np.arange(n_videos), n_frames)
    frame_index = np.arange(rows) - start[vidx]

    missed = rank_in_group(vidx, rng) < missed_frames(n_frames, rng)[vidx]
    status = np.where(missed, np.where(rng.random(rows) < 0.65, NO_FACE, LOW_SCORE), OK).astype(np.int8)

    zero_lines = np.where(rng.random(n_videos) < 0.03, rng.integers(1, 6, n_videos), 0)
    face_lines = n_frames.copy()
    short, long = rng.random(n_videos) < 0.01, rng.random(n_videos) < 0.005
    face_lines[short] -= rng.integers(1, 13, short.sum())
    face_lines[long & ~short] += rng.integers(1, 4, (long & ~short).sum())
    repaired = rng.random(n_videos) < 0.04
    repairs = [
        face_file_repairs(zero_lines[v], face_lines[v], n_frames[v], rng) if repaired[v] else []
        for v in range(n_videos)
    ]

    box_source = np.full(rows, FACE_FILE, dtype=np.int8)
    box_source[frame_index < zero_lines[vidx]] = ZERO_BOX
    box_source[frame_index >= face_lines[vidx]] = MISSING_LINE
    for v, entries in enumerate(repairs):
        for entry in entries:
            box_source[start[v] + entry["line"] - 1] = REPAIRED if entry["method"] != "dropped" else UNPARSEABLE

    return Content(
        video_ids=[video_id(*map(int, name)) for name in names],
        subject=names[:, 0],
        type_id=names[:, 1],
        sensor=names[:, 2],
        medium=names[:, 3],
        session=names[:, 4],
        n_frames=n_frames,
        start=start,
        face_lines=face_lines,
        zero_lines=zero_lines,
        repairs=repairs,
        vidx=vidx,
        frame_index=frame_index,
        status=status,
        box_source=box_source,
    )


# --- aligned faces -----------------------------------------------------------------------


@dataclass
class AlignedFaces:
    """The aligned PNG of every frame row: pngs[index[row]], no image where index is -1."""

    pngs: list[bytes]
    index: np.ndarray

    def __post_init__(self) -> None:
        self._pool = pa.array(self.pngs, type=pa.binary())

    def of(self, rows: np.ndarray) -> list[bytes]:
        return [self.pngs[i] for i in self.index[rows]]

    def column(self, rows: slice) -> pa.Array:
        """The `aligned` column of a slice of frame rows (null where a frame has no aligned face)."""
        index = self.index[rows]
        return self._pool.take(pa.array(index, mask=index < 0))

    def total_bytes(self) -> int:
        sizes = np.array([len(png) for png in self.pngs], dtype=np.int64)
        return int(sizes[self.index[self.index >= 0]].sum())


def aligned_faces(content: Content, distinct: int, seed: int) -> AlignedFaces:
    """Real aligned faces for the ok frames; a video shows one person (its subject's)."""
    from bench.aligned_faces import aligned_png_pool

    pool = aligned_png_pool(distinct, seed)
    rows = np.flatnonzero(content.status == OK)
    person = content.subject[content.vidx[rows]] % pool.people
    index = np.full(len(content.vidx), -1, dtype=np.int64)
    index[rows] = pool.index(person, rank_in_group(person))
    return AlignedFaces(pngs=pool.pngs, index=index)


# --- (a) the notes' folder tree ----------------------------------------------------------


def write_frames(folder: Path, indices: np.ndarray, images: list[bytes] | None) -> None:
    """`<i>.png` for each frame index in `folder`: the image bytes, or empty files."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        for k, index in enumerate(indices):
            file = os.open(f"{index}.png", os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644, dir_fd=fd)
            try:
                if images is not None:
                    os.write(file, images[k])
            finally:
                os.close(file)
    finally:
        os.close(fd)


def build_tree(content: Content, faces: AlignedFaces, root: Path) -> dict:
    """orign_frame/: an empty file per frame; detect_frame/: the aligned PNG of each ok frame
    (an empty folder if none)."""
    files = 0
    for v, vid in enumerate(content.video_ids):
        rows = np.arange(content.start[v], content.start[v] + content.n_frames[v])
        ok = rows[content.status[rows] == OK]
        write_frames(root / "orign_frame" / vid, content.frame_index[rows], None)
        write_frames(root / "detect_frame" / vid, content.frame_index[ok], faces.of(ok))
        files += len(rows) + len(ok)
        if (v + 1) % 500 == 0:
            log.info("tree: %d/%d videos, %d files", v + 1, len(content.video_ids), files)
    size, _ = disk_usage(root)
    return {"files": files, "bytes": size}


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
    """Every frames column but `aligned` (added chunk by chunk when writing)."""
    rng = np.random.default_rng([seed, 2])
    n, vidx, status = len(content.vidx), content.vidx, content.status
    n_videos = len(content.video_ids)

    # a face that drifts a little around its place in each 1920x1080 video
    side = (rng.uniform(260, 520, n_videos)[vidx] + rng.normal(0, 4, n)).reshape(-1, 1)
    centre = np.stack([rng.uniform(760, 1160, n_videos)[vidx], rng.uniform(380, 640, n_videos)[vidx]], 1) + rng.normal(
        0, 6, (n, 2)
    )
    latent = np.concatenate([centre - side / 2, centre + side / 2], 1)
    has_box = np.isin(content.box_source, [FACE_FILE, REPAIRED])
    found = status != NO_FACE
    det_box = latent + rng.normal(0, 4, (n, 4))
    det_box[rng.random(n) < 0.002, 0::2] += side[:, 0].mean() * 0.7  # now and then the detector picks something else
    landmarks = (
        det_box[:, None, :2]
        + LANDMARK_TEMPLATE[None] * side[:, None, :]
        + rng.normal(0, side[:, None, :] * 0.01, (n, 5, 2))
    )
    score = np.where(status == OK, 0.8 + 0.2 * rng.beta(5, 1, n), rng.uniform(0.35, 0.8, n))
    full_frame = ~has_box | (rng.random(n) < 0.02)
    # spoof replays are blurrier; nothing is scored without any box
    lapvar = rng.lognormal(np.log(np.where(content.type_id == 3, 45.0, 90.0))[vidx], 0.5)
    scored = found | has_box

    rows_of = pa.array(vidx)
    per_video = lambda values, dtype: pa.array(values, type=dtype).take(rows_of)  # noqa: E731
    return pa.table(
        {
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
            "crop": pa.nulls(n, pa.binary()),
            "crop_format": pa.nulls(n, pa.string()),
            "sharpness_lapvar": pa.array(lapvar.astype(np.float32), mask=~scored),
            "sharpness_count": pa.array(
                np.round(lapvar * 11 + rng.normal(0, 40, n)).clip(0).astype(np.int32), mask=~scored
            ),
            "detector": pa.array(np.full(n, "mtcnn")),
            "detector_version": pa.array(np.full(n, "1.0.0")),
            "run_id": pa.array(np.full(n, "bench-audit-synthetic")),
        }
    )


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
        "subject": content.subject,
        "sensor": content.sensor,
        "type_id": content.type_id,
        "medium": content.medium,
        "session": content.session,
        "size_bytes": (content.n_frames * rng.uniform(90_000, 160_000, n)).astype(np.int64),
        "fingerprint": [hashlib.sha1(vid.encode()).hexdigest() for vid in content.video_ids],
        "face_path": [f"{vid}.face" for vid in content.video_ids],
        "face_lines": content.face_lines,
        "face_zero_lines": content.zero_lines,
        "face_repairs": content.repairs,
        "n_face_repairs": [len(r) for r in content.repairs],
        "stream_frames": content.n_frames,
        "source_frames": content.n_frames,
        "fps": np.full(n, 30.0),
        "width": np.full(n, 1920),
        "height": np.full(n, 1080),
        "n_frames": content.n_frames,
        "n_ok": n_ok,
        "status": ["ok"] * n,
        "status_reason": [None] * n,
        "source_present": [True] * n,
        "config_hash": ["bench-audit"] * n,
        "run_id": ["bench-audit-synthetic"] * n,
        "processed_at": [processed + timedelta(seconds=40 * v) for v in range(n)],
    }
    unfilled = [name for name in VIDEOS.schema.names if name not in rows]
    if unfilled:
        raise SystemExit(
            f"bench/audit.py: the videos schema has columns the benchmark does not fill: {unfilled}; "
            "add them to videos_table()"
        )
    return pa.table({name: pa.array(rows[name], type=VIDEOS.schema.field(name).type) for name in VIDEOS.schema.names})


def write_lake(content: Content, faces: AlignedFaces, root: Path, seed: int) -> dict:
    from etl.lake.lake import Lake
    from schemas import FRAMES, VIDEOS

    lake = Lake(str(root))
    for spec in (FRAMES, VIDEOS):
        lake.ensure(spec)
    frames = frames_table(content, seed)
    for offset in range(0, frames.num_rows, CHUNK_ROWS):
        rows = slice(offset, offset + CHUNK_ROWS)
        lake.append(FRAMES, frames.slice(offset, CHUNK_ROWS).append_column("aligned", faces.column(rows)))
        log.info("lake: frames %d/%d rows", min(offset + CHUNK_ROWS, frames.num_rows), frames.num_rows)
    lake.append(VIDEOS, videos_table(content, seed))
    size, files = disk_usage(root)
    frames_size, _ = disk_usage(root / FRAMES.name)
    return {"bytes": size, "files": files, "frames_bytes": frames_size}


def disk_usage(root: Path) -> tuple[int, int]:
    """(bytes, files) under root."""
    total = files = 0
    for directory, _, names in os.walk(root):
        for name in names:
            total += (Path(directory) / name).stat().st_size
            files += 1
    return total, files


def prepared(path: Path, params: dict, build: Callable[[Path], dict], *, inputs: Callable[[], object]) -> dict:
    """Build `path` unless its marker (`path`.json) says it was built with `params`; the
    marker also keeps what the build measured (seconds, files, bytes). `inputs()` makes what
    the build needs, before the build's clock starts."""
    marker = path.with_name(path.name + ".json")
    if marker.is_file() and path.is_dir():
        saved = json.loads(marker.read_text())
        if saved.get("params") == params:
            log.info("reusing %s (built in %.1f s)", path, saved["seconds"])
            return {**saved, "reused": True}
    marker.unlink(missing_ok=True)
    shutil.rmtree(path, ignore_errors=True)
    inputs()
    log.info("building %s", path)
    started = time.perf_counter()
    measured = build(path)
    saved = {"params": params, "seconds": time.perf_counter() - started, **measured}
    marker.write_text(json.dumps(saved))
    log.info("built %s in %.1f s: %s", path, saved["seconds"], measured)
    return {**saved, "reused": False}


# --- the audits --------------------------------------------------------------------------


def apparent_bytes(folder: Path) -> int:
    """Bytes of the files under `folder` (`du --apparent-size`, files only)."""
    total, pending = 0, [folder]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                else:
                    total += entry.stat(follow_symlinks=False).st_size
    return total


def notes_du(tree: Path) -> dict[str, int]:
    """The notes' `du -hd1 {detect,orign}_frame/{Train,Test}`: bytes per folder/split/label."""
    return {
        f"{folder}/{split}/{label}": apparent_bytes(tree / folder / split / label)
        for folder in TREE_FOLDERS
        for split in ("Train", "Test")
        for label in ("live", "spoof")
        if (tree / folder / split / label).is_dir()
    }


def notes_audit(tree: Path) -> dict:
    """The notes' analysis, as written there, over both splits at once."""
    pd = require_pandas()
    sep = os.path.sep
    image_counts = (  # noqa: E731 - the notes' code as written
        lambda rr: {sep.join(os.path.relpath(ii, tree).split(sep)[1:]): len(os.listdir(ii)) for ii in glob.glob(rr)}
    )
    dss = pd.Series(image_counts(str(tree / "detect_frame" / "*" / "*" / "*" / "*")), name="detect")
    oss = pd.Series(image_counts(str(tree / "orign_frame" / "*" / "*" / "*" / "*")), name="original")
    tt = pd.concat([dss, oss], axis=1, sort=False).fillna(0)
    table = tt.copy()
    tt.sort_values("detect").head(10)
    no_detection = list(tt[tt.detect == 0].index)  # the notes rmdir these; here they are only listed
    tt = tt[tt.detect != 0].copy()
    tt["sub"] = tt["original"] - tt["detect"]
    describe = tt["sub"].describe()
    # the notes' tt.sort_values('sub')[-10:], with ties in video-id order instead of quicksort's
    worst = tt.sort_index().sort_values("sub", ascending=False, kind="stable").head(WORST)

    files_size = lambda dd: [os.stat(os.path.join(dd, ii)).st_size for ii in os.listdir(dd)]  # noqa: E731
    samples = tt.index[np.random.default_rng(0).choice(tt.shape[0], min(120, tt.shape[0]), replace=False)]
    estimates = {}
    for folder, column in (("detect_frame", "detect"), ("orign_frame", "original")):
        aa = [files_size(tree / folder / ii) for ii in samples]
        mm = np.mean([np.mean(ii) if ii else 0.0 for ii in aa])
        estimates[folder] = float(tt[column].sum() * mm)
    return {
        "table": table,
        "no_detection": no_detection,
        "describe": describe.to_dict(),
        "worst": [(name, int(row.original), int(row.detect), int(row["sub"])) for name, row in worst.iterrows()],
        "estimates": estimates,
        "du": notes_du(tree),
    }


COUNTS = """WITH counts AS (
    SELECT video_id, count(*) AS original, count(*) FILTER (WHERE det_status = 'ok') AS detect,
           count(*) - count(*) FILTER (WHERE det_status = 'ok') AS sub
    FROM frames GROUP BY video_id)
"""
SUBSET_SQL = {
    "counts": "SELECT video_id, count(*) AS original, count(*) FILTER (WHERE det_status = 'ok') AS detect "
    "FROM frames GROUP BY video_id",
    "describe": COUNTS
    + """SELECT count(*) AS count, avg(sub) AS mean, stddev_samp(sub) AS std, min(sub) AS min,
        quantile_cont(sub, 0.25) AS q25, quantile_cont(sub, 0.5) AS q50, quantile_cont(sub, 0.75) AS q75,
        max(sub) AS max
        FROM counts WHERE detect > 0""",
    "worst": COUNTS + f"SELECT * FROM counts WHERE detect > 0 ORDER BY sub DESC, video_id LIMIT {WORST}",
    "no_detection": COUNTS + "SELECT video_id FROM counts WHERE detect = 0 ORDER BY video_id",
    # exact, not estimated: the bytes of the stored images per split and label (the notes' du)
    "size": """SELECT split, label, CAST(coalesce(sum(octet_length(aligned)), 0) AS BIGINT) AS aligned_bytes,
        CAST(coalesce(sum(octet_length(crop)), 0) AS BIGINT) AS crop_bytes FROM frames GROUP BY split, label""",
}


def checked_execute(connection, what: str, sql: str, params: dict | None = None) -> pa.Table:
    """`execute`, with a failure turned into a BenchFailure naming the query."""
    from etl.lake.query import execute

    try:
        return execute(connection, sql, params)
    except Exception as error:  # noqa: BLE001 - any failure invalidates the benchmark; named, not hidden
        raise BenchFailure([f"{what} fails on the synthetic lake: {type(error).__name__}: {error}"]) from error


def facelake_subset(lake) -> dict:
    """The notes' questions in facelake SQL, on one connection (connect included)."""
    from etl.lake.query import connect

    connection = connect(lake)
    try:
        results = {name: checked_execute(connection, f"subset query {name}", sql) for name, sql in SUBSET_SQL.items()}
    finally:
        connection.close()
    return {
        "counts": {r["video_id"]: (r["original"], r["detect"]) for r in results["counts"].to_pylist()},
        "describe": results["describe"].to_pylist()[0],
        "worst": [(r["video_id"], r["original"], r["detect"], r["sub"]) for r in results["worst"].to_pylist()],
        "no_detection": results["no_detection"].column("video_id").to_pylist(),
        "size": results["size"].to_pylist(),
    }


def query_times(lake, names: list[str], repeat: int) -> dict[str, dict]:
    """Each audit query alone, on one connection per pass: median seconds and rows.
    Raises BenchFailure naming every query that fails."""
    from etl.lake.query import connect, load_query

    times: dict[str, list[float]] = {name: [] for name in names}
    rows: dict[str, int] = {}
    for _ in range(repeat):
        failures = []
        connection = connect(lake)
        try:
            for name in names:
                started = time.perf_counter()
                try:
                    table = checked_execute(connection, f"query {name}", load_query(name))
                except BenchFailure as failure:
                    failures += failure.problems
                    continue
                times[name].append(time.perf_counter() - started)
                rows[name] = table.num_rows
        finally:
            connection.close()
        if failures:
            raise BenchFailure(failures)
    return {name: {"seconds": statistics.median(times[name]), "rows": rows[name]} for name in names}


def worst_excluding(lake, skip: int) -> list[tuple]:
    """facelake's worst_videos with `skip` more rows than the notes' 10, as (video, frames, ok, lost)."""
    from etl.lake.query import connect, load_query

    connection = connect(lake)
    try:
        table = checked_execute(connection, "query worst_videos", load_query("worst_videos"), {"n": WORST + skip})
    finally:
        connection.close()
    return [(r["video_id"], r["frames"], r["ok"], r["lost"]) for r in table.to_pylist()]


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


# --- report ------------------------------------------------------------------------------


def report(args, seconds: dict, queries: dict, checks: list, setup: dict) -> str:
    base, full, subset = seconds["baseline"], seconds["full_audit"], seconds["notes_subset"]
    tree, lake, faces = setup["tree"], setup["lake"], setup["aligned"]
    audit_what = (
        f"the full audit: {len(queries)} quer{'y' if len(queries) == 1 else 'ies'} in queries/ ({', '.join(queries)})"
    )
    estimate = setup["estimate"]
    stored = lake["frames_bytes"] / faces["bytes"]
    under_2s = ("met" if full < 2 else "NOT met") if args.rows >= 1_000_000 else "not measured"
    lines = [
        f"Audit benchmark: {args.rows:,} frames, {setup['videos']:,} videos, median of {args.repeat} runs",
        "",
        "| approach | what it answers | median s | speed-up vs baseline |",
        "|---|---|---|---|",
        f"| baseline: the notes (os.listdir + pandas over the folder tree, os.stat sample, du) | per-video counts, "
        f"describe, {WORST} worst, no-detection videos, size estimate, du per split/label | {base:.3f} | 1.0× |",
        f"| facelake `run_audit` | {audit_what} | {full:.3f} | {base / full:.1f}× |",
        f"| facelake SQL, the notes' subset | the baseline's questions (sizes exact, not estimated) | {subset:.3f} | "
        f"{base / subset:.1f}× |",
        "",
        "| setup | seconds | on disk |",
        "|---|---|---|",
        f"| folder tree (orign_frame empty files + detect_frame PNGs) | {tree['seconds']:.1f}"
        f"{' (reused)' if tree['reused'] else ''} | {tree['bytes'] / 1e6:.1f} MB in {tree['files']:,} files |",
        f"| lake (frames + videos, via Lake.append) | {lake['seconds']:.1f}{' (reused)' if lake['reused'] else ''} | "
        f"{lake['bytes'] / 1e6:.1f} MB in {lake['files']:,} files |",
        "",
        "| query | median s | rows |",
        "|---|---|---|",
        *[f"| {name} | {q['seconds']:.3f} | {q['rows']} |" for name, q in queries.items()],
        "",
        f"Answers compared with the baseline's, all equal: {len(checks)}",
        "",
        "| answer | facelake | baseline |",
        "|---|---|---|",
        *[f"| {c.what} | {c.facelake} | {c.baseline} |" for c in checks],
        "",
        f"- aligned faces: real faces, {faces['images']:,} PNGs of {faces['mean_bytes'] / 1e3:.1f} KB mean "
        f"({args.distinct_faces} distinct); the lake's frames files hold {stored:.3f} bytes per aligned-image byte "
        f"({'no compression folds them' if stored >= 1 else 'FEWER than the images: compression folded some'})",
        f"- the notes' size estimate of detect_frame: {estimate['notes'] / 1e6:.1f} MB against the exact "
        f"{estimate['exact'] / 1e6:.1f} MB ({100 * (estimate['notes'] / estimate['exact'] - 1):+.1f} %)",
        f"- target, full audit ≥ 20× faster than the notes: {'met' if base / full >= 20 else 'NOT met'} "
        f"({base / full:.1f}×)",
        f"- target, audit under 2 s median at 1M rows: {under_2s} ({full:.3f} s at {args.rows:,} rows)",
        (
            "- cold page cache: dropped before every timed run of both approaches (--cold)"
            if args.cold
            else "- warm page cache: the tree and the lake were just built or read "
            "(--cold drops the cache before each run)"
        ),
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"frames rows (default {DEFAULT_ROWS:,})")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per approach; the median is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--distinct-faces",
        type=int,
        default=DEFAULT_DISTINCT_FACES,
        help="distinct aligned-face PNGs (a multiple of the 8 shipped faces), cycled person by person",
    )
    parser.add_argument("--cold", action="store_true", help="drop the page cache before every timed run (root, Linux)")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="working folder, reused between runs (default: a temporary one, removed at the end)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write every figure and check to this JSON file")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be at least 1")
    if args.distinct_faces < 8 or args.distinct_faces % 8:
        parser.error("--distinct-faces must be a positive multiple of 8 (the shipped faces)")
    return args


def prepare_inputs(args: argparse.Namespace, work: Path) -> tuple[Content, dict]:
    """The content, and the tree and lake holding it (built, or reused from --work)."""
    params = {"rows": args.rows, "seed": args.seed, "distinct_faces": args.distinct_faces, "format": FORMAT}
    content = make_content(args.rows, args.seed)
    log.info(
        "content: %d frames, %d videos, %d ok; work folder %s",
        args.rows,
        len(content.video_ids),
        int((content.status == OK).sum()),
        work,
    )
    # made once, and only when something is built
    faces_once = functools.cache(lambda: aligned_faces(content, args.distinct_faces, args.seed))
    tree = prepared(work / "tree", params, lambda path: build_tree(content, faces_once(), path), inputs=faces_once)
    lake = prepared(
        work / "lake", params, lambda path: write_lake(content, faces_once(), path, args.seed), inputs=faces_once
    )
    return content, {"videos": len(content.video_ids), "tree": tree, "lake": lake}


def run_benchmark(args: argparse.Namespace, work: Path, results: dict) -> str:
    from etl.lake.lake import Lake
    from etl.lake.query import query_names
    from etl.lake.run import run_audit

    content, setup = prepare_inputs(args, work)
    results["setup"] = setup
    lake = Lake(str(work / "lake"))
    names = query_names()
    log.info("audit queries present: %s", ", ".join(names))
    queries = query_times(lake, names, args.repeat)
    results["queries"] = queries

    base, notes = median_time(lambda: notes_audit(work / "tree"), args.repeat, "notes baseline", cold=args.cold)
    full, audit = median_time(lambda: run_audit(lake, names), args.repeat, "facelake full audit", cold=args.cold)
    subset, answers = median_time(lambda: facelake_subset(lake), args.repeat, "facelake notes subset", cold=args.cold)
    results["seconds"] = {"baseline": base, "full_audit": full, "notes_subset": subset}
    results["speedup"] = {"full_audit": base / full, "notes_subset": base / subset}

    audit_tables = {name: table for name, _, table in audit}
    worst = worst_excluding(lake, len(notes["no_detection"]))
    checks, problems = compare_answers(notes, answers, audit_tables, worst)
    results["checks"] = [c.as_dict() for c in checks]
    results["answers"] = {key: notes[key] for key in ("worst", "describe", "no_detection", "estimates", "du")}
    if problems:
        raise BenchFailure(problems)
    images = int((content.status == OK).sum())
    exact = sum(row["aligned_bytes"] for row in answers["size"])
    setup["aligned"] = {"images": images, "bytes": exact, "mean_bytes": exact / max(images, 1)}
    setup["estimate"] = estimate_against_exact(notes["estimates"]["detect_frame"], exact)
    return report(args, results["seconds"], queries, checks, setup)


def main(argv: list[str] | None = None) -> int:
    from bench.results import write_json
    from jobs.common.logs import setup_logging

    args = parse_args(argv)
    setup_logging()
    require_pandas()
    temporary = args.work is None
    work = Path(tempfile.mkdtemp(prefix="facelake-bench-audit-")) if temporary else args.work
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"bench": "audit", "params": {k: v for k, v in vars(args).items() if k != "json"}}
    try:
        table = run_benchmark(args, work, results)
    except BenchFailure as failure:
        for problem in failure.problems:
            log.error("%s", problem)
        log.error("audit benchmark FAILED: %d problem(s); the figures are not valid", len(failure.problems))
        results.update(ok=False, problems=failure.problems)
        return 1
    else:
        results["ok"] = True
        sys.stdout.write(table + "\n")
        return 0
    finally:
        if args.json:
            write_json(args.json, results)
        if temporary:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
