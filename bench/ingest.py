"""Ingest benchmark: facelake vs the notes' workflow, on the same input and machine.

Two cases, each a generated SiW tree (bench/ingest_samples.py) whose `.face` boxes are
moved by detector-like jitter (a real `.face` comes from a detector):
  640x480    facelake's sample tree (mp4v), with the real dataset's defects planted;
  1920x1080  SiW's format: H.264 `.mov`, 30 fps, faces about 300-410 px; live and
             replay videos by default (see --hd-kinds for why not print).
Per case, each run on the same tree:
  baseline (notes)   serial, per frame: the `.face` crop to a PNG; MTCNN on the full frame
                     with the notes' settings (stage thresholds 0.6/0.7/0.7, minimum face
                     40 px) through facelake's bounded-pyramid PNet (etl/faces/detect.py; stock
                     mtcnn 1.0 finds nothing with min_face_size=40, DOMAIN.md) and the package's
                     own TensorFlow nets (facelake runs them on onnxruntime); the best face
                     kept at score >= 0.8, aligned by insightface norm_crop, one PNG per face.
                     Unlike the notes' loop it sees every decoded frame (theirs stopped at the
                     end of a short `.face` and skipped detection where the crop was empty),
                     so that both sides handle the same frames;
  facelake           `python -m jobs.ingest --crops png` with the same detector settings, each
                     in a fresh process and lake, timed end to end (Ray start included), with
                     1 and 2 workers, on both paths: `full cascade` (`--cascade-every 1`: MTCNN's
                     whole cascade on every frame, ingest before issue 20) and `ONet tracking`
                     (the default: the cascade every 30th frame, ONet alone between;
                     etl/faces/track.py). `steady` frames/s leave out start-up (Ray, model
                     loading, the first video): the frames of every video but the first to
                     finish over the time between the first and the last finishing (the
                     lake's `videos.processed_at`), what a long run over SiW approaches;
  facelake, no crops ONet tracking as ingest runs by default (`--crops none`: no `.face` crop
                     image, which the notes wrote and a 1080p frame spends ~5 ms encoding),
                     1 and 2 workers: the figure for "ingest ÷ decode-only";
  facelake before    ingest as it was before issue 20 (`--before`, default 9746693: the full
                     cascade on TensorFlow nets, libpng's filter choice), exported from this
                     repository's history into the work folder and run from there by the same
                     Python, with 2 workers and the same flags (`--crops png`): "today's
                     frames/s" of the issue, measured on the same input beside the rest;
  decode only        the same OpenCV decoder, nothing else, in 1 and in 2 processes.
The bench exits 1 when the baseline's answer differs materially from facelake's (the
checks and their tolerances are printed under each table), so that a broken baseline
cannot make a speed-up.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.ingest_samples import (  # after the sys.path line above
    JitterStats,
    Tree,
    jittered_copy,
    sample_tree_640,
    sample_tree_1080,
)
from etl.config import DetectorConfig
from etl.faces.detect import FaceDetector
from etl.sources.decode import VideoDecodeError, iter_frames
from etl.sources.siw_tree import VideoSource, scan_source

log = logging.getLogger("bench.ingest")

# the notes' detector settings, used by both sides
NOTES_THRESHOLDS = (0.6, 0.7, 0.7)
NOTES_MIN_FACE = 40
NOTES_ACCEPT = 0.8

# Tolerances of the answer checks. Both sides run the same MTCNN weights and thresholds on
# the same decoded frames, but not on the same pixels: the baseline samples the full frame,
# facelake a .face region resampled to 160 px (and a 960 px copy of frames whose region has
# no face). Borderline frames (a face half out of view, a replay near the 0.8 score) may flip
# either way; earlier runs of this bench flipped under 1 % of them. 2 % leaves room for that
# and still catches a baseline that misses whole videos (one video is >= 5 % of a case).
FACE_COUNT_TOLERANCE = 0.02  # |facelake faces - baseline faces| <= 2 % of the baseline's (at least 2 frames)
# ... unless every face one side found beyond the other is a real face: its landmarks' centre
# lies inside the generator's exact face box of that frame (the un-jittered truth tree). The
# notes' full-frame pass misses print-attack frames that facelake's region pass finds; those
# extra faces are right, and a bench that failed on them would punish the better answer.
FACE_RECALL_MIN = 0.98  # facelake finds a face in >= 98 % of the frames the baseline found one in
# Where both found the face, their 5 landmarks (what the alignment uses) must agree: median
# distance <= 8 % of the eye distance, about 3 px on the 112 px aligned face. Measured: 0.03
# in both cases; a swapped landmark order or a coordinate scale error gives more than 0.3.
LANDMARK_MEDIAN_MAX = 0.08
# The job's wall-clock span (runs.started_at to ended_at) exceeds its own timer by a scan's
# worth (< 0.3 s measured); more means the clock jumped, and steady frames/s are not measured.
CLOCK_JUMP_MAX_S = 1.0

HD_KINDS_HELP = (
    "kinds of the 1080p videos, comma-separated (live, print, replay). Print is left out by default: "
    "the generator draws the halftone at the face photo's resolution, so at 1080p its dots are ~12 px "
    "wide (no camera resolves print dots) and the full-frame MTCNN rejects those frames while facelake's "
    "area-resampled region does not; the answers would differ for a rendering artefact"
)


# ------------------------------------------------------------------------- runs


@dataclass
class Run:
    name: str
    processes: int  # decode-only figure this run is compared with
    frames: int
    seconds: float
    faces: int | None = None
    bytes: int | None = None
    files: int | None = None
    job_seconds: float | None = None  # facelake's own elapsed time, from its `runs` row
    steady_fps: float | None = None  # frames/s after start-up (see the module doc)
    clock_jump_s: float | None = None  # the wall clock's span of the job minus its own timer's (see `_lake_run`)
    landmarks: dict[tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)
    det_sources: frozenset[str] = field(default_factory=frozenset, repr=False)  # frames.det_source values seen

    @property
    def fps(self) -> float:
        return self.frames / self.seconds

    def summary(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k not in ("landmarks", "det_sources")}
        return {**data, "frames_per_s": round(self.fps, 2)}


def disk_usage(root: Path) -> tuple[int, int]:
    """(bytes, files) under root: file sizes summed, not allocated blocks (which would add
    up to 4 KiB per file, against the baseline's thousands of small PNGs)."""
    total, files = 0, 0
    for directory, _, names in os.walk(root):
        for name in names:
            total += (Path(directory) / name).stat().st_size
            files += 1
    return total, files


def processable(source: Path) -> list[VideoSource]:
    return [v for v in scan_source(source).videos if v.processable]


def run_baseline(source: Path, out: Path, detector: FaceDetector) -> Run:
    """The notes' loop over every decoded frame of every video, one process."""
    import cv2

    from etl.faces.align import align_face

    shutil.rmtree(out, ignore_errors=True)
    videos = processable(source)
    run = Run("baseline (notes)", processes=1, frames=0, seconds=0.0, faces=0)
    started = time.perf_counter()
    for number, video in enumerate(videos, 1):
        stem = video.rel_path.rsplit(".", 1)[0]
        crops, aligned = out / "orign_frame" / stem, out / "detect_frame" / stem  # the notes' folder names
        crops.mkdir(parents=True, exist_ok=True)
        aligned.mkdir(parents=True, exist_ok=True)
        try:
            for index, frame in iter_frames(video.abs_path):
                run.frames += 1
                crop = face_crop(frame, video, index)
                if crop is not None:
                    cv2.imwrite(str(crops / f"{index}.png"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
                faces = detector([frame], min_face_size=NOTES_MIN_FACE)[0]
                best = max(faces, key=lambda f: f.score, default=None)
                if best is not None and best.score >= NOTES_ACCEPT:
                    face = align_face(frame, best.landmarks)
                    cv2.imwrite(str(aligned / f"{index}.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
                    run.landmarks[(video.video_id, index)] = best.landmarks
        except VideoDecodeError as error:  # the truncated sample video (facelake records it as corrupt)
            log.info("baseline: skipped %s: %s", video.rel_path, error)
        elapsed = time.perf_counter() - started
        log.info(
            "baseline: %d/%d videos, %d frames, %.1f frames/s", number, len(videos), run.frames, run.frames / elapsed
        )
    run.seconds = time.perf_counter() - started
    run.faces = len(run.landmarks)
    run.bytes, run.files = disk_usage(out)
    return run


def face_crop(frame: np.ndarray, video: VideoSource, index: int) -> np.ndarray | None:
    """The `.face` box of the frame clipped to it, as facelake clips it (None if < 2 px)."""
    box = video.annotations.box_for_frame(index)[0] if video.annotations else None
    if box is None:
        return None
    height, width = frame.shape[:2]
    x1, y1, x2, y2 = max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3])
    return frame[y1:y2, x1:x2] if x2 - x1 >= 2 and y2 - y1 >= 2 else None


def baseline_detector() -> FaceDetector:
    """facelake's MTCNN with the notes' settings; TensorFlow may use every core, as in the notes."""
    from etl.faces.detect import MtcnnDetector

    return MtcnnDetector(
        DetectorConfig(
            stage_thresholds=NOTES_THRESHOLDS,
            min_face_size=NOTES_MIN_FACE,
            accept_score=NOTES_ACCEPT,
            threads=os.cpu_count() or 1,
        ),
        tensorflow_nets=True,  # the notes ran the mtcnn package's Keras nets
    )


PATHS = {"full cascade": 1, "ONet tracking": 30}  # facelake's two ways to find faces: --cascade-every


NO_CROPS = "ONet tracking, no crops"  # the default ingest: not the notes' work (no .face crop images)
BEFORE_ISSUE_20 = "9746693"  # the last commit before issue 20: no ONet tracking, MTCNN's nets on TensorFlow


def before_name(revision: str) -> str:
    return f"facelake before ({revision}), 2 workers"


def export_revision(revision: str, folder: Path) -> Path:
    """This repository's code at `revision`, exported (git archive) into `folder`; reused when already there.
    Nothing is written to the repository itself (no worktree is registered)."""
    if not (folder / "jobs" / "ingest.py").exists():
        archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", revision], capture_output=True)
        if archive.returncode != 0:
            reason = archive.stderr.decode(errors="replace").strip()
            raise SystemExit(f"bench: cannot export revision {revision} (--before; none skips it): {reason}")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        subprocess.run(["tar", "-xf", "-", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def run_before(source: Path, work: Path, revision: str) -> Run:
    """Ingest as it was at `revision`, 2 workers, timed end to end like `run_facelake`. Its modules come from the
    export (`python -m` puts the working folder first on sys.path, and Ray's local workers get the driver's)."""
    code = export_revision(revision, work / f"code-{revision}")
    lake = work / f"lake-before-{revision}"
    seconds = _timed_ingest(source, lake, 2, work / f"facelake-before-{revision}.log", crops="png", cwd=code)
    return _lake_run(lake, 2, seconds, before_name(revision))


def facelake_name(path: str, workers: int) -> str:
    return f"facelake {path}, {workers} worker{'s' if workers > 1 else ''}"


def run_facelake(source: Path, lake: Path, workers: int, log_file: Path, path: str) -> Run:
    """facelake ingest in a fresh process (its own local Ray), timed end to end; `path` is one of PATHS or NO_CROPS."""
    crops = "none" if path == NO_CROPS else "png"
    cascade = ["--cascade-every", str(PATHS.get(path, PATHS["ONet tracking"]))]
    seconds = _timed_ingest(source, lake, workers, log_file, crops=crops, cwd=REPO, extra=cascade)
    return _lake_run(lake, workers, seconds, facelake_name(path, workers))


def _timed_ingest(
    source: Path, lake: Path, workers: int, log_file: Path, *, crops: str, cwd: Path, extra: Sequence[str] = ()
) -> float:
    """Seconds of `python -m jobs.ingest` (run in `cwd`) into a fresh `lake`, with the notes' detector settings."""
    shutil.rmtree(lake, ignore_errors=True)
    command = [
        sys.executable,
        "-m",
        "jobs.ingest",
        "--source",
        str(source),
        "--lake",
        str(lake),
        "--workers",
        str(workers),
        "--crops",
        crops,
        "--no-progress",
        "--stage-thresholds",
        *map(str, NOTES_THRESHOLDS),
        "--min-face-size",
        str(NOTES_MIN_FACE),
        "--accept-score",
        str(NOTES_ACCEPT),
        *extra,
    ]
    started = time.perf_counter()
    with log_file.open("w") as output:
        code = subprocess.run(command, check=False, cwd=cwd, stdout=output, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"facelake ingest ({cwd}) with {workers} workers exited {code}; its output is in {log_file}")
    return seconds


def steady_frames_per_s(videos: list[dict]) -> float | None:
    """Frames of every video but the first to finish, over the time from the first finishing to the last."""
    done = sorted(
        (v for v in videos if v["processed_at"] is not None and v["n_frames"]), key=lambda v: v["processed_at"]
    )
    if len(done) < 2:
        return None
    span = (done[-1]["processed_at"] - done[0]["processed_at"]).total_seconds()
    return sum(v["n_frames"] for v in done[1:]) / span if span > 0 else None


def clock_jump_s(run: dict) -> float:
    """How much longer a job's wall-clock span (its `runs` row's started_at to ended_at) was than its own
    monotonic timer (`elapsed_s` in its counts)."""
    return (run["ended_at"] - run["started_at"]).total_seconds() - json.loads(run["counts_json"])["elapsed_s"]


def _lake_run(lake: Path, workers: int, seconds: float, name: str) -> Run:
    from etl.lake.lake import Lake
    from schemas import FRAMES, RUNS, VIDEOS

    table = Lake(str(lake)).read(FRAMES, columns=["video_id", "frame_index", "det_status", "det_source", "landmarks"])
    landmarks = {
        (r["video_id"], r["frame_index"]): np.asarray(r["landmarks"], dtype=np.float32)
        for r in table.to_pylist()
        if r["det_status"] == "ok"
    }
    run = Lake(str(lake)).read(RUNS).to_pylist()[0]
    videos = Lake(str(lake)).read(VIDEOS, columns=["n_frames", "processed_at"]).to_pylist()
    # steady frames/s come from wall-clock timestamps (videos.processed_at); this machine's clock
    # has jumped forward by seconds during a run, which the job's own (monotonic) timer does not see
    clock_jump = clock_jump_s(run)
    steady = steady_frames_per_s(videos)
    if abs(clock_jump) > CLOCK_JUMP_MAX_S:
        log.warning("%s: the wall clock moved %+.1f s against the job's timer: no steady frames/s", name, clock_jump)
        steady = None
    size, files = disk_usage(lake)
    return Run(
        name,
        processes=workers,
        frames=table.num_rows,
        seconds=seconds,
        faces=len(landmarks),
        bytes=size,
        files=files,
        job_seconds=json.loads(run["counts_json"])["elapsed_s"],
        steady_fps=steady,
        clock_jump_s=round(clock_jump, 3),
        landmarks=landmarks,
        det_sources=frozenset(s for s in table.column("det_source").unique().to_pylist() if s),
    )


def run_decode_only(source: Path, processes: int) -> Run:
    """Every frame decoded, nothing else, the videos split over `processes` processes.

    The processes start decoding together (a barrier after their start-up); seconds run
    from then to the last one's end, so interpreter start-up is not counted."""
    shares = balanced_shares(processable(source), processes)
    context = multiprocessing.get_context("spawn")
    results, ready = context.Queue(), context.Barrier(processes)
    workers = [context.Process(target=decode_share, args=(share, ready, results)) for share in shares]
    for worker in workers:
        worker.start()
    spans = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    seconds = max(end for _, end, _ in spans) - min(start for start, _, _ in spans)
    name = f"decode only, {processes} process{'es' if processes > 1 else ''}"
    return Run(name, processes=processes, frames=sum(frames for _, _, frames in spans), seconds=seconds)


def balanced_shares(videos: list[VideoSource], processes: int) -> list[list[str]]:
    """Largest video first to the lightest share, by file size."""
    shares: list[list[str]] = [[] for _ in range(processes)]
    loads = [0] * processes
    for video in sorted(videos, key=lambda v: -v.size_bytes):
        lightest = loads.index(min(loads))
        shares[lightest].append(str(video.abs_path))
        loads[lightest] += video.size_bytes
    return shares


def decode_share(paths: list[str], ready: multiprocessing.synchronize.Barrier, results: multiprocessing.Queue) -> None:
    """(start, end, frames) of decoding `paths`, in seconds of the system-wide monotonic clock (runs in its own
    process; the wall clock can jump on this machine)."""
    ready.wait()
    start, frames = time.monotonic(), 0
    for path in paths:
        try:
            frames += sum(1 for _ in iter_frames(Path(path)))
        except VideoDecodeError:  # the truncated sample video
            continue
    results.put((start, time.monotonic(), frames))


# ----------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Check:
    name: str
    value: str
    limit: str
    passed: bool


def answer_checks(baseline: Run, one: Run, two: Run, truth: Path, *, path: str) -> list[Check]:
    """Does facelake (on `path`) give the baseline's answer (within the tolerances), and 2 workers the same as 1?"""
    both = baseline.landmarks.keys() & two.landmarks.keys()
    allowed = max(2, round(FACE_COUNT_TOLERANCE * baseline.faces))
    extra = two.landmarks.keys() - baseline.landmarks.keys()
    real = real_faces(two, extra, truth)
    recall = len(both) / baseline.faces if baseline.faces else 1.0
    distance = landmark_distance(baseline, two, both)
    return [
        Check(
            f"{path}: frames decoded, facelake = baseline",
            f"{two.frames} vs {baseline.frames}",
            "equal",
            two.frames == baseline.frames,
        ),
        Check(
            f"{path}: frames with a face, facelake - baseline",
            f"{two.faces - baseline.faces:+d} ({real} of facelake's {len(extra)} extra faces inside the true face box)",
            f"within ±{allowed}, or every extra face a real one",
            abs(two.faces - baseline.faces) <= allowed or (two.faces >= baseline.faces and real == len(extra)),
        ),
        Check(
            f"{path}: baseline's face frames where facelake found one too",
            f"{recall:.2%}",
            f">= {FACE_RECALL_MIN:.0%}",
            recall >= FACE_RECALL_MIN,
        ),
        Check(
            f"{path}: landmark distance where both found a face, median / eye distance",
            f"{distance:.3f}",
            f"<= {LANDMARK_MEDIAN_MAX}",
            distance <= LANDMARK_MEDIAN_MAX,
        ),
        Check(
            f"{path}: faces found, 2 workers = 1 worker (same frames)",
            f"{len(two.landmarks.keys() ^ one.landmarks.keys())} differ",
            "0 differ",
            one.landmarks.keys() == two.landmarks.keys(),
        ),
    ]


def before_check(before: Run, tracking: Run) -> Check:
    """The before run ran the old code: none of its frames was found by ONet alone, as many of ONet tracking's were."""
    onet = {"onet_track", "onet_face_box"}
    return Check(
        f"{before.name}: ran the code of then (frames found by ONet alone)",
        f"{len(before.det_sources & onet)} ONet-alone sources (ONet tracking: {sorted(tracking.det_sources & onet)})",
        "none, where ONet tracking has some",
        not before.det_sources & onet and bool(tracking.det_sources & onet),
    )


def same_faces_check(with_crops: Run, without: Run) -> Check:
    """Leaving the crop images out changes no face: the same frames, the same landmarks."""
    differ = len(with_crops.landmarks.keys() ^ without.landmarks.keys())
    both = with_crops.landmarks.keys() & without.landmarks.keys()
    moved = max((float(np.abs(with_crops.landmarks[k] - without.landmarks[k]).max()) for k in both), default=0.0)
    return Check(
        f"{NO_CROPS}, 2 workers: faces vs with --crops png",
        f"{differ} frames differ, landmarks move <= {moved:.1e} px",
        "0 differ, <= 1e-3 px",
        differ == 0 and moved <= 1e-3,
    )


def real_faces(run: Run, keys: set[tuple[str, int]], truth: Path) -> int:
    """How many of these frames' faces have their landmarks' centre inside the generator's true box."""
    videos = {video.video_id: video for video in processable(truth)}
    real = 0
    for video_id, index in keys:
        video = videos.get(video_id)
        box = video.annotations.box_for_frame(index)[0] if video and video.annotations else None
        if box is not None:
            x, y = run.landmarks[(video_id, index)].mean(axis=0)
            real += box[0] <= x <= box[2] and box[1] <= y <= box[3]
    return real


def landmark_distance(a: Run, b: Run, keys: set[tuple[str, int]]) -> float:
    """Median over frames of the mean landmark distance, in units of the baseline's eye distance."""
    if not keys:
        return 0.0
    values = []
    for key in keys:
        first, second = a.landmarks[key], b.landmarks[key]
        eyes = max(float(np.linalg.norm(first[1] - first[0])), 1.0)
        values.append(float(np.linalg.norm(first - second, axis=1).mean()) / eyes)
    return float(np.median(values))


# ----------------------------------------------------------------------- report


COLUMNS = (
    "run",
    "frames",
    "seconds",
    "frames/s",
    "× baseline",
    "÷ decode-only",
    "steady frames/s",
    "steady ÷ decode-only",
    "frames with a face",
    "bytes on disk",
    "files",
)


@dataclass
class CaseResult:
    name: str
    tree: Tree
    jitter: JitterStats
    runs: list[Run]
    checks: list[Check]
    load: tuple[float, float]  # 1-minute load average before and after

    def run(self, name: str) -> Run:
        return next(r for r in self.runs if r.name == name)

    def decode_fps(self, processes: int) -> float:
        return next(r for r in self.runs if r.name.startswith("decode") and r.processes == processes).fps

    def to_json(self) -> dict:
        base = self.run("baseline (notes)")
        runs = []
        for run in self.runs:
            extra = {"x_baseline": round(run.fps / base.fps, 3)}
            if not run.name.startswith("decode"):
                extra["of_decode_only"] = round(run.fps / self.decode_fps(run.processes), 4)
                if run.steady_fps:
                    extra["steady_of_decode_only"] = round(run.steady_fps / self.decode_fps(run.processes), 4)
                extra["faces_of_baseline"] = round(run.faces / base.faces, 4) if base.faces else None
            runs.append({**run.summary(), **extra})
        videos = self.tree.manifest.videos
        return {
            "case": self.name,
            "codec": self.tree.codec,
            "videos": len(videos),
            "frames_per_video": videos[0].frames,
            "jitter": asdict(self.jitter),
            "runs": runs,
            "checks": [asdict(c) for c in self.checks],
            "load_average_1min": list(self.load),
        }


def case_table(case: CaseResult) -> str:
    base = case.run("baseline (notes)")
    videos = case.tree.manifest.videos
    truncated = len(case.tree.manifest.by_defect("truncated"))
    unreadable = f" ({truncated} truncated on purpose: it does not open)" if truncated else ""
    lines = [
        f"### {case.name}: {case.tree.codec}, {len(videos)} videos × {videos[0].frames} frames{unreadable}",
        "",
        f"| {' | '.join(COLUMNS)} |",
        "|" + "---|" * len(COLUMNS),
    ]
    for run in case.runs:
        decode = run.name.startswith("decode")
        of_decode = "" if decode else f"{run.fps / case.decode_fps(run.processes):.3f} ({run.processes} proc.)"
        steady = "" if run.steady_fps is None else f"{run.steady_fps:.1f}"
        steady_of = "" if run.steady_fps is None else f"{run.steady_fps / case.decode_fps(run.processes):.3f}"
        faces = "" if run.faces is None else f"{run.faces} ({run.faces / max(base.faces, 1):.1%})"
        size = "" if run.bytes is None else f"{run.bytes / 1e6:.1f} MB"
        lines.append(
            f"| {run.name} | {run.frames} | {run.seconds:.1f} | {run.fps:.1f} | {run.fps / base.fps:.2f} | "
            f"{of_decode} | {steady} | {steady_of} | {faces} | {size} | {run.files if run.files is not None else ''} |"
        )
    lines.append("")
    for path in PATHS:
        one, two = case.run(facelake_name(path, 1)), case.run(facelake_name(path, 2))
        lines.append(
            f"- {path}: 2 workers vs 1 worker {two.fps / one.fps:.2f}×; seconds are end to end, with Ray start-up and "
            f"model loading (job: 1 worker {one.job_seconds:.1f} s, 2 workers {two.job_seconds:.1f} s)"
        )
    tracking, cascade = case.run(facelake_name("ONet tracking", 2)), case.run(facelake_name("full cascade", 2))
    default = case.run(facelake_name(NO_CROPS, 2))
    before = next((r for r in case.runs if r.name.startswith("facelake before")), None)
    if before:
        lines.append(
            f"- {before.name} → ONet tracking, 2 workers (both `--crops png`): {tracking.fps / before.fps:.2f}× end "
            "to end"
            + (
                f", {tracking.steady_fps / before.steady_fps:.2f}× steady"
                if tracking.steady_fps and before.steady_fps
                else ""
            )
        )
    lines += [
        (
            f"- ingest as it runs by default ({NO_CROPS}), 2 workers ÷ decode-only in 2 processes: "
            f"{default.fps / case.decode_fps(2):.3f} end to end"
            + (f", {default.steady_fps / case.decode_fps(2):.3f} steady" if default.steady_fps else "")
        ),
        (
            f"- ONet tracking vs full cascade, 2 workers: {tracking.fps / cascade.fps:.2f}× end to end"
            + (
                f", {tracking.steady_fps / cascade.steady_fps:.2f}× steady"
                if tracking.steady_fps and cascade.steady_fps
                else ""
            )
        ),
        (
            "- ÷ decode-only: the run's frames/s over decoding alone with as many processes (baseline and 1 worker: 1, "
            "2 workers: 2); the baseline's TensorFlow may use every core, as the notes' did"
        ),
        (
            f"- `.face` jitter: {case.jitter.boxes} boxes moved, mean offset {case.jitter.mean_shift:.1%} of the box "
            f"side, mean IoU with the generator's box {case.jitter.mean_iou:.3f}"
        ),
        f"- load average (1 min) before / after: {case.load[0]:.2f} / {case.load[1]:.2f} on {os.cpu_count()} cores",
        "- checks (facelake 2 workers vs baseline, each path):",
    ]
    lines += [f"  - {'PASS' if c.passed else 'FAIL'} {c.name}: {c.value} ({c.limit})" for c in case.checks]
    return "\n".join(lines)


# ------------------------------------------------------------------------- main


def bench_case(
    name: str, tree: Tree, work: Path, *, jitter: float, seed: int, detector: FaceDetector, before: str | None
) -> CaseResult:
    load_before = os.getloadavg()[0]
    source = work / "siw"
    stats = jittered_copy(tree, source, sigma=jitter, seed=seed)
    log.info(
        "%s: %d videos in %s, %d .face boxes jittered (mean IoU %.3f)",
        name,
        len(tree.manifest.videos),
        source,
        stats.boxes,
        stats.mean_iou,
    )
    runs = []
    for path in (*PATHS, NO_CROPS):
        for workers in (1, 2):
            label = f"{PATHS.get(path, 'no-crops')}-{workers}"
            runs.append(run_facelake(source, work / f"lake-{label}", workers, work / f"facelake-{label}.log", path))
            log.info("%s: %s", name, runs[-1].summary())
    if before:
        runs.append(run_before(source, work, before))
        log.info("%s: %s", name, runs[-1].summary())
    for processes in (1, 2):
        runs.append(run_decode_only(source, processes))
        log.info("%s: %s", name, runs[-1].summary())
    runs.insert(0, run_baseline(source, work / "baseline", detector))
    log.info("%s: %s", name, runs[0].summary())
    checks = []
    named = {run.name: run for run in runs}
    for path in PATHS:
        checks += answer_checks(
            runs[0], named[facelake_name(path, 1)], named[facelake_name(path, 2)], tree.root, path=path
        )
    checks.append(same_faces_check(named[facelake_name("ONet tracking", 2)], named[facelake_name(NO_CROPS, 2)]))
    if before:
        checks.append(before_check(named[before_name(before)], named[facelake_name("ONet tracking", 2)]))
    return CaseResult(name, tree, stats, runs, checks, (load_before, os.getloadavg()[0]))


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=_HelpFormatter)
    parser.add_argument("--cases", default="640x480,1920x1080", help="cases to run, comma-separated")
    parser.add_argument("--subjects", type=int, default=2, help="640x480: subjects (6 videos each, plus 1)")
    parser.add_argument("--seconds", type=float, default=6.0, help="640x480: seconds per video at 30 fps")
    parser.add_argument("--hd-videos", type=int, default=15, help="1920x1080: videos (SiW-like sizes: issue 20)")
    parser.add_argument("--hd-frames", type=int, default=150, help="1920x1080: frames per video")
    parser.add_argument("--hd-kinds", default="live,replay", help=HD_KINDS_HELP)
    parser.add_argument("--jitter", type=float, default=0.03, help=".face jitter: sigma as a share of the box side")
    parser.add_argument("--seed", type=int, default=0, help="seed of the trees and the jitter")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="working folder, where generated trees are kept and reused; none: a new temporary folder",
    )
    parser.add_argument(
        "--before",
        default=BEFORE_ISSUE_20,
        help="also run ingest as it was at this git revision of this repository (2 workers); none: skip",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    args.before = None if args.before.lower() == "none" else args.before
    args.cases = args.cases.split(",")
    args.hd_kinds = args.hd_kinds.split(",")
    unknown = [c for c in args.cases if c not in ("640x480", "1920x1080")] + [
        k for k in args.hd_kinds if k not in ("live", "print", "replay")
    ]
    if unknown:
        parser.error(f"unknown case or kind {unknown}; cases: 640x480, 1920x1080; kinds: live, print, replay")
    if args.hd_videos < 1 or args.hd_frames < 1:
        parser.error(f"--hd-videos and --hd-frames must be >= 1, got {args.hd_videos} and {args.hd_frames}")
    if not 0.0 <= args.jitter <= 0.2:
        parser.error(f"--jitter must be in [0, 0.2] (a share of the box side), got {args.jitter}")
    return args


def build_tree(name: str, work: Path, args: argparse.Namespace) -> Tree:
    if name == "640x480":
        return sample_tree_640(work / "truth", subjects=args.subjects, seconds=args.seconds, seed=args.seed)
    return sample_tree_1080(
        work / "truth",
        videos=args.hd_videos,
        frames=args.hd_frames,
        kinds=args.hd_kinds,
        seed=args.seed,
        processes=os.cpu_count() or 1,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    work = args.work or Path(tempfile.mkdtemp(prefix="facelake-bench-"))
    log.info("work folder %s; load average %.2f on %d cores", work, os.getloadavg()[0], os.cpu_count())
    detector = baseline_detector()
    results = []
    for name in args.cases:
        case_work = work / name
        case_work.mkdir(parents=True, exist_ok=True)
        tree = build_tree(name, case_work, args)
        results.append(
            bench_case(name, tree, case_work, jitter=args.jitter, seed=args.seed, detector=detector, before=args.before)
        )
    sys.stdout.write("\n\n".join(case_table(case) for case in results) + "\n")
    passed = all(c.passed for case in results for c in case.checks)
    if args.json:
        from bench.results import write_json

        machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
        write_json(
            args.json,
            {
                "bench": "ingest",
                "ok": passed,
                "machine": machine,
                "params": vars(args),
                "cases": [c.to_json() for c in results],
            },
        )
    if not passed:
        log.error("the baseline's answer differs from facelake's beyond the tolerances: see the failed checks")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
