"""Scale benchmark (issue 17): ingest, embed, dedup and train at 1x, 4x and 16x the sample,
with the driver's and every Ray worker's peak memory, and a projection to SiW.

Input: per scale S, a sample tree `write_sample_tree(OUT/xS/siw, subjects=S * --subjects,
seconds=--seconds, seed=--seed)`. 1x is `facelake sample`'s default: 4 subjects x 6 videos
+ 1 extra = 25 videos of 60 frames (2 s at 30 fps), 640x480 mp4v, 1,440 decodable frames
(one video is truncated on purpose); S x scales the subjects (24 S + 1 videos of the same
length), so 16x is 385 videos, 23,040 frames. Trees are reused from OUT when their
arguments match; every scale gets a new lake.

Per scale, in order, on that lake (the Makefile demo's jobs and settings):
  ingest   run_ingest (the CLI's defaults: mtcnn, no crops, commit every 4 videos)
  embed    run_embed, frames, dlib, --every-k (default 10, as `make demo`)
  dedup    run_dedup, frames, max linkage, --leakage (as `make demo`); FAISS in the driver,
           no Ray workers
  train    run_train, P1, --epochs (1), batch --batch-size (32), --input-size (48), MobileNet
A job left out of --jobs still runs, unmeasured, where a later one needs its table.

Each measured job is one fresh driver process, `bench/scale.py step --job JOB ...`, that
sets up the CLI's quiet output (a local Ray of its own, workers' output not sent to the
driver), calls the job's run_* function and writes one JSON line: wall seconds of the
run_* call (Ray start-up and model loading included), the items it handled and its own
VmHWM (peak resident memory) right after run_* returned, so the peak covers the imports
and that one job. Meanwhile this process polls /proc every --poll seconds for the step's
descendants whose command line is a Ray worker's (`ray::...` or `default_worker.py`) and
keeps each one's VmHWM (a per-process peak, so polling misses only growth in its last
interval). A worker's VmHWM counts the shared pages it touched too (Ray's object store,
shared libraries), so peaks of workers on one node do not add up to the node's memory.

Reported: a Markdown table (job x scale), the growth check (the driver's peak from the
smallest to the largest scale must grow by less than 100 MB for ingest and for train:
PASS/FAIL each; with --check a FAIL exits 1), each job's cost fitted over the scales
(fixed seconds + seconds per item per worker), and a projection of ingest to SiW and 10x
SiW on N nodes x 8 workers computed from those measurements (formula and every
assumption in docs/scale.md; GPU figures there are assumptions, nothing here measures a
GPU). --markdown FILE and --json FILE write the same (bench/results.py's JSON).

Time on this project's 2-core machine with 2 workers (from a --scales 1,2 run while other
work loaded the machine; 16x was not run): generating a tree takes ~2 s per video the
first time (16x: 385 videos, ~13 min; reused from --out); at 1x the jobs take ~5 min, train
~4 of them (Ray Train, evaluation and exports: nearly all fixed cost); ingest runs at
40-90 frames/s. Expect 4x in ~10 min and 16x in ~25-35 min, so the default --scales 1,4,16
in about an hour from scratch, and --scales 1,2 in ~13 min.

    .venv/bin/python bench/scale.py [--scales 1,4,16] [--jobs ingest,embed,dedup,train]
        [--workers 2] [--epochs 1] [--out DIR | --keep] [--check] [--markdown FILE] [--json FILE]
        [--from-json FILE]  (the report again from a previous --json, nothing run)
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.process_memory import status_mb  # noqa: E402  (imports no numpy)

log = logging.getLogger("bench.scale")

JOBS = ("ingest", "embed", "dedup", "train")
UNITS = {"ingest": "frames", "embed": "faces", "dedup": "faces", "train": "faces"}
NEEDS = {"embed": "ingest", "dedup": "embed", "train": "ingest"}  # the table a job reads comes from this job
CHECKED_JOBS = ("ingest", "train")  # the target: their driver's peak is flat in the data size
GROWTH_LIMIT_MB = 100.0
EXTRAPOLATE_SPAN = 8  # the driver's peak per frame is extrapolated to SiW only from scales this far apart
SAMPLE_SUBJECTS = 4  # `facelake sample`'s default: 25 videos
SAMPLE_SECONDS = 2.0  # its default: 60 frames a video
RESULT_PREFIX = "SCALE_STEP_RESULT "  # the child's one JSON line on stdout

# --- projection constants: where each comes from --------------------------------------------
SIW_VIDEOS = 4478  # DOMAIN.md: SiW's videos
SIW_FRAMES_PER_VIDEO = 450  # 30 fps x about 15 s
SIW_FRAMES = SIW_VIDEOS * SIW_FRAMES_PER_VIDEO  # 2,015,100
# README "Benchmark / Ingest" (bench/ingest.py, 2026-12-02, this machine): facelake with 1
# worker, end to end, 57.0 frames/s at 640x480 and 18.1 frames/s at 1920x1080 H.264:
# a 1080p frame costs 57.0 / 18.1 = 3.15 times a 640x480 one.
HD_FACTOR = round(57.0 / 18.1, 2)
# same table: decoding alone at 1080p, 1 process, 86.8 frames/s: the floor of a worker's cost
# once detection is off the CPU (the "decoding dominates on GPU" assumption)
HD_DECODE_FPS = 86.8
GPU_SPEEDUP = 5.0  # ASSUMED, not measured (no GPU here): detect+align per frame on a GPU vs 1 CPU core
WORKERS_PER_NODE = 8
NODES = (1, 4, 16)
COMMIT_EVERY = 4  # IngestConfig.commit_every: videos per Delta commit


# ============================================================================ measuring


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return None


def _ppid(pid: str) -> int | None:
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (IndexError, ValueError):
        return None


def _hwm_mb(pid: int) -> float | None:
    status = _read(f"/proc/{pid}/status")
    for line in (status or "").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def ray_worker_title(cmdline: str) -> str | None:
    """The title of a Ray worker process from its command line ('ray::IDLE', 'ray::_process_remote',
    ...), 'ray::(starting)' for one that has not set its title yet, None for any other process
    (the node's own daemons too: gcs_server, raylet, the dashboard and runtime-env agents)."""
    if cmdline.startswith("ray::"):
        title = cmdline.split()[0]
        return None if title.endswith("Agent") else title  # ray::DashboardAgent, ray::RuntimeEnvAgent: node daemons
    if "default_worker.py" in cmdline:
        return "ray::(starting)"
    return None


class WorkerPeaks:
    """In a thread, every `interval` s: the Ray workers among `root`'s descendants, and the
    largest VmHWM seen for each (VmHWM is already a per-process peak)."""

    def __init__(self, root: int, interval: float) -> None:
        self.root, self.interval = root, interval
        self.peaks: dict[int, float] = {}
        self.titles: dict[int, set[str]] = {}
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-peaks", daemon=True)

    def __enter__(self) -> WorkerPeaks:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)

    def poll(self) -> None:
        children: dict[int, list[int]] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                parent = _ppid(name)
                if parent is not None:
                    children.setdefault(parent, []).append(int(name))
        stack, seen = [self.root], set()
        while stack:
            pid = stack.pop()
            for child in children.get(pid, ()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        for pid in seen:
            cmdline = (_read(f"/proc/{pid}/cmdline") or "").replace("\0", " ").strip()
            title = ray_worker_title(cmdline)
            if title is None:
                continue
            peak = _hwm_mb(pid)
            if peak is not None:
                self.peaks[pid] = max(peak, self.peaks.get(pid, 0.0))
                self.titles.setdefault(pid, set()).add(title)
        self.polls += 1

    def workers(self) -> list[dict]:
        """[{pid, peak_mb, titles, busy}], largest peak first; busy: it ran something (not only IDLE)."""
        out = []
        for pid, peak in self.peaks.items():
            titles = sorted(self.titles.get(pid, ()))
            busy = any(t not in ("ray::IDLE", "ray::(starting)") for t in titles)
            out.append({"pid": pid, "peak_mb": round(peak, 1), "titles": titles, "busy": busy})
        return sorted(out, key=lambda w: -w["peak_mb"])


@dataclass
class StepResult:
    job: str
    scale: int
    subjects: int
    videos: int
    items: int  # frames (ingest), faces embedded (embed), faces searched (dedup), faces trained (train)
    seconds: float  # the run_* call in the child
    process_seconds: float  # the child process, end to end (interpreter and imports too)
    driver_peak_mb: float  # the child's VmHWM right after run_* returned
    driver_before_mb: float  # its VmRSS just before run_* (interpreter + the job module's imports)
    workers: list[dict] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    @property
    def unit(self) -> str:
        return UNITS[self.job]

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0

    def busy_workers(self) -> list[dict]:
        return [w for w in self.workers if w["busy"]]


def child_env(step_dir: Path) -> dict[str, str]:
    """A local Ray of the step's own; the CLI's quiet output with its log file in step_dir."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["FACELAKE_LOG_DIR"] = str(step_dir)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_step(
    job: str,
    *,
    scale: int,
    tree: Path,
    lake: Path,
    models: Path,
    videos: int,
    subjects: int,
    args: argparse.Namespace,
    measured: bool = True,
) -> StepResult:
    """One job in a fresh driver process; its Ray workers' peaks polled from here."""
    step_dir = lake.parent / "logs" / job
    shutil.rmtree(step_dir, ignore_errors=True)
    step_dir.mkdir(parents=True)
    result_file = step_dir / "result.json"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "step",
        "--job",
        job,
        "--lake",
        str(lake),
        "--source",
        str(tree),
        "--models",
        str(models),
        "--workers",
        str(args.workers),
        "--every-k",
        str(args.every_k),
        "--epochs",
        str(args.epochs),
        "--batch-size",
        str(args.batch_size),
        "--input-size",
        str(args.input_size),
        "--result",
        str(result_file),
    ]
    log.info(
        "x%d %s%s: %s (logs in %s)",
        scale,
        job,
        "" if measured else " (unmeasured, a later job needs it)",
        " ".join(command[2:]),
        step_dir,
    )
    started = time.perf_counter()
    with open(step_dir / "output.log", "w") as output:
        child = subprocess.Popen(command, cwd=REPO, env=child_env(step_dir), stdout=output, stderr=subprocess.STDOUT)
        with WorkerPeaks(child.pid, args.poll) as peaks:
            code = child.wait()
    process_seconds = time.perf_counter() - started
    if code != 0 or not result_file.is_file():
        tail = "".join((step_dir / "output.log").read_text(errors="replace").splitlines(keepends=True)[-30:])
        raise RuntimeError(
            f"x{scale} {job}: the step exited {code} after {process_seconds:.0f} s; "
            f"last lines of {step_dir / 'output.log'}:\n{tail}"
        )
    data = json.loads(result_file.read_text())
    result = StepResult(
        job=job,
        scale=scale,
        subjects=subjects,
        videos=videos,
        items=data["items"],
        seconds=data["seconds"],
        process_seconds=round(process_seconds, 2),
        driver_peak_mb=data["driver_peak_mb"],
        driver_before_mb=data["driver_before_mb"],
        workers=peaks.workers(),
        details=data["details"],
    )
    result.details["load_1min"] = round(os.getloadavg()[0], 2)
    if job == "ingest":
        result.details["lake_frames_bytes"] = tree_bytes(lake / "frames")
    if job == "ingest":
        log.info("x%d ingest: video status %s", scale, result.details.get("video_status"))
    busy = result.busy_workers()
    log.info(
        "x%d %s: %d %s in %.1f s (%.1f/s); driver peak %.0f MB; %d busy Ray workers, peaks %s MB",
        scale,
        job,
        result.items,
        result.unit,
        result.seconds,
        result.rate,
        result.driver_peak_mb,
        len(busy),
        ", ".join(f"{w['peak_mb']:.0f}" for w in busy) or "-",
    )
    return result


def tree_bytes(root: Path) -> int:
    return sum((Path(d) / n).stat().st_size for d, _, names in os.walk(root) for n in names)


# ================================================================================ child


def step_main(argv: list[str]) -> int:
    """`bench/scale.py step --job JOB ...`: one job's run_* in this process, one JSON line out."""
    parser = argparse.ArgumentParser(prog="bench/scale.py step")
    parser.add_argument("--job", choices=JOBS, required=True)
    parser.add_argument("--lake", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--every-k", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--input-size", type=int, required=True)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.job == "train":
        import etl.train.run  # noqa: F401  (first: it picks tf-keras before TensorFlow is imported)
    from jobs.common.logs import configure_output

    configure_output(args.job, verbose=False)  # as the CLI: Ray's workers do not log to the driver
    run, details = _prepare(args)
    before = status_mb("VmRSS")
    started = time.perf_counter()
    outcome = run()
    seconds = time.perf_counter() - started
    peak = status_mb("VmHWM")  # before anything else is read
    items = details(outcome)
    result = {
        "job": args.job,
        "seconds": round(seconds, 3),
        "driver_peak_mb": round(peak or math.nan, 1),
        "driver_before_mb": round(before or math.nan, 1),
        **items,
    }
    line = json.dumps(result, default=str)
    args.result.write_text(line + "\n")
    sys.stdout.write(RESULT_PREFIX + line + "\n")
    sys.stdout.flush()
    return 0


def _prepare(args: argparse.Namespace):
    """(run, details): the job's run_* call with its config, and what to report of its outcome."""
    from etl.lake.lake import Lake

    if args.job == "ingest":
        import etl.ingest.run as ingest_job
        from etl.config import IngestConfig

        commits: list[float] = []  # seconds of each driver commit that carried videos
        commit_videos = ingest_job.commit_videos

        def timed_commit(*positional, **kwargs):  # any signature: the job's commit is only timed here
            started = time.perf_counter()
            commit_videos(*positional, **kwargs)
            if kwargs.get("videos"):
                commits.append(time.perf_counter() - started)

        ingest_job.commit_videos = timed_commit  # measured here only; the job's code is unchanged
        lake = Lake.open(args.lake, create=True)
        config = IngestConfig(workers=args.workers)

        def details(summary):
            return {
                "items": summary.frames,
                "details": {
                    "videos_processed": summary.videos_processed,
                    "frames_ok": summary.frames_ok,
                    "video_status": dict(summary.video_status),
                    "commits": len(commits),
                    "commit_seconds": round(sum(commits), 3),
                    "commit_max_s": round(max(commits, default=0.0), 3),
                    "commit_last_s": round(commits[-1], 3) if commits else None,
                },
            }

        return (lambda: ingest_job.run_ingest(source=args.source, lake=lake, config=config)), details
    lake = Lake.open(args.lake)
    if args.job == "embed":
        from etl.embed.backends import EmbedderConfig
        from etl.embed.run import EmbedJobConfig, run_embed

        config = EmbedJobConfig(
            embedder=EmbedderConfig(backend="dlib"), source="frames", every_k=args.every_k, workers=args.workers
        )
        return (lambda: run_embed(lake=lake, config=config)), lambda s: {
            "items": s.embedded,
            "details": {"model": s.model, "faces_to_embed": s.faces_to_embed, "every_k": args.every_k},
        }
    if args.job == "dedup":
        from etl.identity.run import run_dedup

        return (lambda: run_dedup(lake=lake, source="frames", model=None, leakage=True)), lambda s: {
            "items": s.faces,
            "details": {
                "identities": s.identities,
                "candidate_pairs": s.candidate_pairs,
                "linked_pairs": s.linked_pairs,
                "leakage_pairs": s.leakage_pairs,
            },
        }
    from etl.config import TrainConfig
    from etl.train.run import run_train

    config = TrainConfig(
        protocols="p1", epochs=args.epochs, batch_size=args.batch_size, input_size=args.input_size, workers=args.workers
    )
    out = Path(args.models)
    shutil.rmtree(out, ignore_errors=True)

    def details(results):
        counts = _train_counts(lake, out / "P1")
        rows = int(counts["train"]["rows"])
        return {
            "items": rows * args.epochs,
            "details": {
                "train_rows": rows,
                "validation_rows": counts["validation"]["rows"],
                "test_rows": counts["test"]["rows"],
                "epochs": args.epochs,
                "frame_auc": results[0]["frame_auc"] if results else None,
            },
        }

    return (lambda: run_train(lake=lake, out=out, config=config)), details


def _train_counts(lake, model_dir: Path) -> dict:
    from schemas import TRAIN_RUNS

    table = lake.read(TRAIN_RUNS, columns=["model_dir", "counts_json", "created_at"])
    rows = [r for r in table.to_pylist() if Path(r["model_dir"]).resolve() == model_dir.resolve()]
    if not rows:
        raise RuntimeError(f"no train_runs row for {model_dir}")
    return json.loads(max(rows, key=lambda r: r["created_at"])["counts_json"])


# ============================================================================= analysis


@dataclass(frozen=True)
class Growth:
    job: str
    from_scale: int
    to_scale: int
    from_mb: float
    to_mb: float
    limit_mb: float = GROWTH_LIMIT_MB

    @property
    def growth_mb(self) -> float:
        return self.to_mb - self.from_mb

    @property
    def passed(self) -> bool:
        return self.growth_mb < self.limit_mb

    def line(self) -> str:
        return (
            f"{'PASS' if self.passed else 'FAIL'} {self.job}: driver peak x{self.from_scale} {self.from_mb:.0f} MB "
            f"-> x{self.to_scale} {self.to_mb:.0f} MB, {self.growth_mb:+.0f} MB (limit: < {self.limit_mb:.0f} MB)"
        )


def growth_checks(
    peaks: dict[str, dict[int, float]], *, jobs=CHECKED_JOBS, limit_mb: float = GROWTH_LIMIT_MB
) -> list[Growth]:
    """peaks[job][scale] = driver peak MB -> one Growth per job in `jobs` measured at two or more
    scales: from its smallest scale to its largest."""
    checks = []
    for job in jobs:
        by_scale = peaks.get(job, {})
        if len(by_scale) < 2:
            continue
        low, high = min(by_scale), max(by_scale)
        checks.append(Growth(job, low, high, by_scale[low], by_scale[high], limit_mb))
    return checks


@dataclass(frozen=True)
class Cost:
    """seconds = fixed_s + items * per_item_s, with `workers` workers; per_item_worker_s is one
    worker's seconds per item (per_item_s x workers), the figure that scales to more workers."""

    fixed_s: float
    per_item_s: float
    workers: int
    points: int
    fitted: bool = True  # False: one scale, or wall time that did not rise with the items (start-up included)

    @property
    def per_item_worker_s(self) -> float:
        return self.per_item_s * self.workers


def fit_cost(points: list[tuple[float, float]], workers: int) -> Cost:
    """Least-squares line through (items, seconds). One point, or a line that does not rise or
    has a negative fixed part (noise between close sizes: the machine's load changed), gives no
    fixed part: seconds / items of the largest point, start-up included."""
    points = sorted(points)
    if not points:
        raise ValueError("fit_cost needs at least one (items, seconds) point")
    items, seconds = points[-1]
    fallback = Cost(0.0, seconds / items if items else 0.0, workers, len(points), fitted=False)
    if len(points) < 2 or len({x for x, _ in points}) < 2:
        return fallback
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    intercept = mean_y - slope * mean_x
    if slope <= 0 or intercept < 0:  # the machine's load varied more than the work did
        return fallback
    return Cost(intercept, slope, workers, len(points))


@dataclass(frozen=True)
class Assumptions:
    """What the ingest projection assumes (docs/scale.md says why each)."""

    hd_factor: float = HD_FACTOR  # 1080p frame cost / 640x480 frame cost, CPU (measured, README)
    hd_decode_fps: float = HD_DECODE_FPS  # one process decoding 1080p H.264 (measured, README)
    gpu_speedup: float = GPU_SPEEDUP  # ASSUMED: a GPU worker's frame cost = CPU's / this, not below decoding
    workers_per_node: int = WORKERS_PER_NODE
    frames_per_video: int = SIW_FRAMES_PER_VIDEO
    commit_every: int = COMMIT_EVERY


@dataclass(frozen=True)
class Projection:
    dataset: str
    frames: int
    nodes: int
    workers: int
    kind: str  # "CPU (measured)" or "GPU (assumed)"
    worker_s_per_frame: float
    compute_s: float  # frames x worker_s_per_frame / workers
    commit_s: float  # the driver's commits, one after another
    fixed_s: float

    @property
    def total_s(self) -> float:
        return self.fixed_s + max(self.compute_s, self.commit_s)

    @property
    def frames_per_s(self) -> float:
        return self.frames / max(self.compute_s, self.commit_s)

    @property
    def commit_share(self) -> float:
        """Share of the run the driver spends committing (>= 1: the commits set the pace)."""
        return self.commit_s / self.compute_s if self.compute_s else math.inf


def worker_cost_1080(cost_640_worker_s: float, kind: str, a: Assumptions) -> float:
    """One worker's seconds per 1080p frame: the measured 640x480 cost x hd_factor on a CPU
    core; on a GPU (assumed) that / gpu_speedup, never below decoding a 1080p frame."""
    cpu = cost_640_worker_s * a.hd_factor
    if kind == "cpu":
        return cpu
    return max(cpu / a.gpu_speedup, 1.0 / a.hd_decode_fps)


def project_ingest(
    ingest: Cost,
    *,
    commit_s_per_frame: float,
    a: Assumptions = Assumptions(),
    nodes=NODES,
    datasets=(("SiW", SIW_FRAMES), ("10x SiW", 10 * SIW_FRAMES)),
) -> list[Projection]:
    """T = F + max(N c / W, N t_commit): F the fixed start-up, N frames, c one worker's seconds
    per 1080p frame (worker_cost_1080), W = nodes x workers_per_node, t_commit the driver's
    commit seconds per frame (commits are serial in the driver; workers keep going meanwhile)."""
    rows = []
    for name, frames in datasets:
        for kind, label in (("cpu", "CPU (measured)"), ("gpu", "GPU (assumed)")):
            c = worker_cost_1080(ingest.per_item_worker_s, kind, a)
            for n in nodes:
                workers = n * a.workers_per_node
                rows.append(
                    Projection(
                        name,
                        frames,
                        n,
                        workers,
                        label,
                        c,
                        frames * c / workers,
                        frames * commit_s_per_frame,
                        ingest.fixed_s,
                    )
                )
    return rows


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def projection_table(rows: list[Projection], bytes_per_frame: float) -> str:
    lines = [
        "| dataset | frames | nodes × 8 workers | worker kind | s per frame per worker | frames/s | "
        "driver commit time ÷ compute time | lake writes MB/s | projected wall time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.dataset} | {r.frames:,} | {r.nodes} ({r.workers}) | {r.kind} | "
            f"{r.worker_s_per_frame:.4f} | "
            f"{r.frames_per_s:,.0f} | {r.commit_share:.2f} | {r.frames_per_s * bytes_per_frame / 1e6:,.1f} | "
            f"{hours(r.total_s)} |"
        )
    return "\n".join(lines)


# =============================================================================== report


def results_table(results: list[StepResult]) -> str:
    lines = [
        "| job | scale | videos | items | wall s | items/s | driver peak MB | driver before run MB | "
        "Ray workers: busy (idle) | busy workers' peaks MB, largest first |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        busy = r.busy_workers()
        idle = len(r.workers) - len(busy)
        shown = ", ".join(f"{w['peak_mb']:.0f}" for w in busy[:6]) + (f" (+{len(busy) - 6})" if len(busy) > 6 else "")
        lines.append(
            f"| {r.job} | {r.scale}× | {r.videos} | {r.items:,} {r.unit} | {r.seconds:.1f} | {r.rate:.1f} | "
            f"{r.driver_peak_mb:.0f} | {r.driver_before_mb:.0f} | {len(busy)} ({idle}) | {shown or '-'} |"
        )
    return "\n".join(lines)


def cost_lines(costs: dict[str, Cost]) -> list[str]:
    lines = []
    for job, c in costs.items():
        item = UNITS[job][:-1]
        who = "in the driver (no Ray workers)" if job == "dedup" else f"with {c.workers} workers"
        how = (
            f"fitted on {c.points} scales"
            if c.fitted
            else "NOT fitted: one scale, or wall times whose line does not rise or has a negative fixed part (the "
            "machine's load varied more than the work), so seconds / items of the largest scale, start-up "
            "included"
        )
        lines.append(
            f"- {job}: fixed {c.fixed_s:.1f} s + {c.per_item_s * 1000:.1f} ms per {item} {who} = "
            f"{c.per_item_worker_s:.4f} s per {item} per {'process' if job == 'dedup' else 'worker'} ({how})"
        )
    return lines


def driver_slope_lines(results: list[StepResult]) -> list[str]:
    """The driver's peak per 1,000 lake frames between the smallest and largest scale and, where
    the largest scale is at least EXTRAPOLATE_SPAN times the smallest, what that slope would make
    of it at SiW's 2 M frames (a few MB over a few thousand frames is mostly allocator noise)."""
    frames = {r.scale: r.items for r in results if r.job == "ingest"}
    lines = []
    for job in JOBS:
        by_scale = {r.scale: r.driver_peak_mb for r in results if r.job == job and r.scale in frames}
        if len(by_scale) < 2:
            continue
        low, high = min(by_scale), max(by_scale)
        slope = (by_scale[high] - by_scale[low]) / max(1, frames[high] - frames[low])  # MB per lake frame
        line = f"- {job}: {slope * 1000:+.2f} MB per 1,000 lake frames (x{low} -> x{high})"
        if high >= EXTRAPOLATE_SPAN * low:
            at_siw = by_scale[high] + max(0.0, slope) * (SIW_FRAMES - frames[high])
            line += f"; at this rate its peak at SiW ({SIW_FRAMES:,} frames) would be {at_siw:,.0f} MB"
        else:
            line += f"; not extrapolated (scales less than {EXTRAPOLATE_SPAN}x apart)"
        lines.append(line)
    return lines


def report(
    results: list[StepResult], args: argparse.Namespace, a: Assumptions, machine: dict | None = None
) -> tuple[str, list[Growth], dict]:
    peaks: dict[str, dict[int, float]] = {}
    for r in results:
        peaks.setdefault(r.job, {})[r.scale] = r.driver_peak_mb
    checks = growth_checks(peaks)
    costs = {
        job: fit_cost(
            [(r.items, r.seconds) for r in results if r.job == job], 1 if job == "dedup" else args.workers
        )  # dedup searches in the driver
        for job in JOBS
        if any(r.job == job and r.items for r in results)
    }
    scales = sorted({r.scale for r in results})
    base = results[0] if results else None
    parts = [
        "## Measured",
        "",
        f"1× = `write_sample_tree(subjects={args.subjects}, seconds={args.seconds:g}, seed={args.seed})` "
        f"({base.videos if base else '?'} videos, 640×480); scales {', '.join(f'{s}×' for s in scales)}; "
        f"{args.workers} workers; embed every {args.every_k}th frame (dlib); train P1, {args.epochs} epoch(s), "
        f"batch {args.batch_size}, input {args.input_size} px.",
        "",
        results_table(results),
        "",
        "- items: ingest, frames decoded; embed, faces embedded (every k-th frame with a face); dedup, the live "
        "faces searched (its default --frame-labels live); train, training faces × epochs (its wall time also "
        "holds scoring the validation and test faces and the model exports)",
        "- wall s: the job's run_* call in a fresh driver process, Ray start-up and model loading included",
        "- driver peak: the driver process's VmHWM right after run_* returned; before run: its VmRSS once the "
        "job's module was imported",
        "- workers: Ray worker processes under that driver, polled every "
        f"{args.poll:g} s; busy: seen running a task or an actor (idle: only ever seen as ray::IDLE); a "
        "worker's VmHWM counts the shared pages it touched (object store, libraries) too",
        "",
        "Growth of the driver's peak memory (target: < 100 MB from the smallest to the largest scale):",
        "",
    ]
    parts += [f"- {c.line()}" for c in checks] or ["- not checked: ingest or train was not measured at two scales"]
    parts += ["", "Cost per job, fitted over the scales (seconds = fixed + items × per item):", ""]
    parts += cost_lines(costs)
    slope = driver_slope_lines(results)
    if slope:
        parts += [
            "",
            "The driver's peak per lake frame, smallest to largest scale (a few MB between close scales "
            "is mostly allocator noise):",
            "",
        ] + slope
    projection: dict = {}
    ingest = [r for r in results if r.job == "ingest"]
    if "ingest" in costs and ingest:
        largest = max(ingest, key=lambda r: r.scale)
        commit_per_frame = largest.details["commit_seconds"] / max(1, largest.items)
        bytes_per_frame = largest.details["lake_frames_bytes"] / max(1, largest.items)
        rows = project_ingest(costs["ingest"], commit_s_per_frame=commit_per_frame, a=a)
        commit_trend = ", ".join(
            f"x{r.scale} {1000 * r.details['commit_seconds'] / max(1, r.items):.2f} ms "
            f"({r.details['commits']} commits of {r.details['commit_seconds'] / max(1, r.details['commits']):.3f} s on "
            f"average, the last {r.details['commit_last_s']} s)"
            for r in ingest
        )
        parts += [
            "",
            "## Projection to SiW (computed from the measurements above)",
            "",
            "T = F + max(N · c / W, N · t_commit), with c = a CPU worker's measured s/frame at 640×480 × "
            f"{a.hd_factor} (1080p); on GPU workers (assumed) c = max(c_CPU / {a.gpu_speedup:g}, "
            f"1 / {a.hd_decode_fps:g})",
            "",
            f"- F = {costs['ingest'].fixed_s:.1f} s fixed start-up"
            f"{'' if costs['ingest'].fitted else ' (NOT fitted: start-up is inside c_640, which is too high)'}; "
            f"c_640 = {costs['ingest'].per_item_worker_s:.4f} "
            f"s per frame per worker; t_commit = {commit_per_frame * 1000:.2f} ms per frame "
            f"(the driver's commits at x{largest.scale}, local disk; per scale: {commit_trend})",
            f"- lake bytes per frame (frames table, x{largest.scale}): {bytes_per_frame / 1e3:.1f} kB",
            "",
            projection_table(rows, bytes_per_frame),
        ]
        projection = {
            "fixed_s": costs["ingest"].fixed_s,
            "c_640_worker_s": costs["ingest"].per_item_worker_s,
            "commit_s_per_frame": commit_per_frame,
            "bytes_per_frame": bytes_per_frame,
            "assumptions": asdict(a),
            "rows": [
                {**asdict(r), "total_s": r.total_s, "frames_per_s": r.frames_per_s, "commit_share": r.commit_share}
                for r in rows
            ],
        }
    machine = machine or {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    loads = [r.details["load_1min"] for r in results if "load_1min" in r.details]
    load = (
        (
            f"; 1-min load average at the steps' ends {min(loads):.1f} to {max(loads):.1f} (above {machine['cpus']}: "
            "other work shared the CPUs, and the times are slower than a quiet machine's)"
        )
        if loads
        else ""
    )
    parts += ["", f"Machine: {machine['cpus']} CPUs, {machine['platform']}, Python {machine['python']}{load}."]
    data = {
        "bench": "scale",
        "ok": all(c.passed for c in checks),
        "machine": machine,
        "params": vars(args),
        "results": [{**asdict(r), "unit": r.unit, "rate": r.rate} for r in results],
        "checks": [{**asdict(c), "growth_mb": c.growth_mb, "passed": c.passed} for c in checks],
        "costs": {job: {**asdict(c), "per_item_worker_s": c.per_item_worker_s} for job, c in costs.items()},
        "projection": projection,
    }
    return "\n".join(parts) + "\n", checks, data


# ================================================================================= main


def ensure_tree(root: Path, *, subjects: int, seconds: float, seed: int) -> int:
    """The sample tree at root (reused when its manifest has these arguments); its video count."""
    from etl.synthetic.siw_tree import MANIFEST_NAME, SampleManifest, write_sample_tree

    previous = root / MANIFEST_NAME
    manifest = SampleManifest.from_json(previous.read_text()) if previous.is_file() else None
    if manifest is None or (manifest.subjects, manifest.seconds, manifest.seed) != (subjects, seconds, seed):
        started = time.perf_counter()
        manifest = write_sample_tree(root, subjects=subjects, seconds=seconds, seed=seed)
        log.info("wrote %d videos to %s in %.0f s", len(manifest.videos), root, time.perf_counter() - started)
    return len(manifest.videos)


def plan_jobs(measured: list[str]) -> list[str]:
    """Jobs to run in order: the measured ones and the ones whose table they read."""
    wanted = set(measured)
    for job in measured:
        while job in NEEDS:
            job = NEEDS[job]
            wanted.add(job)
    return [job for job in JOBS if job in wanted]


def _int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--scales", default="1,4,16", help="multiples of the sample's subjects, comma-separated")
    parser.add_argument("--jobs", default=",".join(JOBS), help="jobs to measure, comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="Ray workers of ingest, embed and train")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs")
    parser.add_argument("--batch-size", type=int, default=32, help="training global batch")
    parser.add_argument("--input-size", type=int, default=48, help="training input side, px")
    parser.add_argument("--every-k", type=int, default=10, help="embed every k-th frame (make demo: 10)")
    parser.add_argument("--subjects", type=int, default=SAMPLE_SUBJECTS, help="subjects at 1x (6 videos each, plus 1)")
    parser.add_argument("--seconds", type=float, default=SAMPLE_SECONDS, help="seconds per video at 30 fps")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample trees")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="working folder (trees, lakes, logs), kept, its trees "
        "reused by the next run; default: a new temporary folder, removed at the end unless --keep",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between polls of the Ray workers' memory")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when the driver's peak grows by >= 100 MB from the smallest to the largest scale "
        "for ingest or train",
    )
    parser.add_argument(
        "--gpu-speedup",
        type=float,
        default=GPU_SPEEDUP,
        help="projection only, an ASSUMPTION: a GPU worker's frame cost = a CPU worker's / this (never below decoding)",
    )
    parser.add_argument(
        "--hd-factor",
        type=float,
        default=HD_FACTOR,
        help="projection: cost of a 1080p frame / a 640x480 one (README's ingest bench)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="run nothing: the report again from a previous run's --json (e.g. with another --gpu-speedup)",
    )
    parser.add_argument("--markdown", type=Path, default=None, help="also write the report here (Markdown)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here (JSON)")
    args = parser.parse_args(argv)
    try:
        args.scale_list = sorted(set(_int_list(args.scales)))
    except ValueError:
        parser.error(f"--scales must be integers separated by commas, got {args.scales!r}")
    args.job_list = [j.strip() for j in args.jobs.split(",") if j.strip()]
    unknown = [j for j in args.job_list if j not in JOBS]
    if unknown or not args.job_list:
        parser.error(f"--jobs must name some of {', '.join(JOBS)}, got {args.jobs!r}")
    if not args.scale_list or min(args.scale_list) < 1 or max(args.scale_list) * args.subjects > 999:
        parser.error(
            f"--scales must be >= 1 with scale x --subjects <= 999 (the generator's limit), got {args.scales!r}"
        )
    if args.workers < 1 or args.epochs < 1 or args.every_k < 1 or args.subjects < 1:
        parser.error("--workers, --epochs, --every-k and --subjects must be >= 1")
    if args.batch_size < args.workers:
        parser.error(f"--batch-size {args.batch_size} must be >= --workers {args.workers}")
    if args.check and (len(args.scale_list) < 2 or not set(CHECKED_JOBS) & set(args.job_list)):
        parser.error("--check needs two or more --scales and ingest and/or train in --jobs")
    if args.gpu_speedup <= 0 or args.hd_factor <= 0:
        parser.error("--gpu-speedup and --hd-factor must be > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["step"]:
        return step_main(argv[1:])
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    assumptions = Assumptions(gpu_speedup=args.gpu_speedup, hd_factor=args.hd_factor)
    if args.from_json:
        results, seconds, machine = load_results(args.from_json, args)
        return finish(results, seconds, args, assumptions, machine)
    work = args.out or Path(tempfile.mkdtemp(prefix="facelake-bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    log.info("working folder %s; load average %.2f on %d CPUs", work, os.getloadavg()[0], os.cpu_count())
    order = plan_jobs(args.job_list)
    results: list[StepResult] = []
    started = time.perf_counter()
    try:
        for scale in args.scale_list:
            folder = work / f"x{scale}"
            subjects = scale * args.subjects
            videos = ensure_tree(folder / "siw", subjects=subjects, seconds=args.seconds, seed=args.seed)
            lake = folder / "lake"
            shutil.rmtree(lake, ignore_errors=True)  # every scale on a new lake: ingest does all its videos
            shutil.rmtree(folder / "logs", ignore_errors=True)
            for job in order:
                result = run_step(
                    job,
                    scale=scale,
                    tree=folder / "siw",
                    lake=lake,
                    models=folder / "models",
                    videos=videos,
                    subjects=subjects,
                    args=args,
                    measured=job in args.job_list,
                )
                if job in args.job_list:
                    results.append(result)
    finally:
        if args.out is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log.info("kept %s", work)
    return finish(results, time.perf_counter() - started, args, assumptions)


def load_results(path: Path, args: argparse.Namespace) -> tuple[list[StepResult], float, dict]:
    """The measurements of a previous run's --json; its run settings replace this one's."""
    data = json.loads(path.read_text())
    for name in ("subjects", "seconds", "seed", "workers", "every_k", "epochs", "batch_size", "input_size", "poll"):
        setattr(args, name, data["params"][name])
    fields = set(StepResult.__dataclass_fields__)
    results = [StepResult(**{k: v for k, v in r.items() if k in fields}) for r in data["results"]]
    return results, data.get("total_seconds", 0.0), data["machine"]


def finish(
    results: list[StepResult],
    seconds: float,
    args: argparse.Namespace,
    assumptions: Assumptions,
    machine: dict | None = None,
) -> int:
    """Print and write the report; the exit status."""
    text, checks, data = report(results, args, assumptions, machine)
    data["total_seconds"] = round(seconds, 1)
    sys.stdout.write(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text)
    if args.json:
        from bench.results import write_json

        write_json(args.json, data)
    if not args.from_json:
        log.info("bench took %.1f min", seconds / 60)
    failed = [c for c in checks if not c.passed]
    if failed and args.check:
        log.error("driver memory grew by >= %.0f MB for %s", GROWTH_LIMIT_MB, ", ".join(c.job for c in failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
