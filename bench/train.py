"""Training benchmark (issue 5): Ray Train scaling, the input pipeline alone, and predict latency.

All on this machine's CPUs, on one sample lake (built here unless --lake is given:
`write_sample_tree(DIR/siw, subjects, seconds, seed=11)` then `jobs.ingest`).

1. Training: the real CLI, `python -m jobs.train --lake LAKE --out OUT --workers W
   --epochs E --batch-size B --input-size S`, once per --workers value, each in its own
   process (its own local Ray), same lake, global batch and epochs. Each epoch's
   `train_seconds` (rank 0's wall time of the training steps, validation excluded) comes
   from OUT/P1/history.json; the number of training faces from the run's `train_runs`
   row (counts_json["train"]["rows"], the row whose model_dir is OUT/P1).
   examples/s = train rows / median(train_seconds of epochs 2..E); epoch 1 includes
   tf.function tracing and is reported on its own. Each epoch actually runs
   ceil(rows / B) global steps of B faces, so at most B - 1 faces more than `rows`.
2. Input pipeline with the model removed, in this process: the same P1 training faces
   (same split and seed as the CLI), decoded as the workers do
   (`decode_faces` at `base_size(S)`), then `make_dataset(..., training=True,
   repeat=True)` with the class weights training uses, batch B, iterated for
   max(one epoch, --pipeline-examples) faces after one warm-up pass of the same length
   (the warm-up also fills the dataset's cache()).
3. Predict latency per face (CPU), with the first --workers run's model (1 worker), on
   --faces test faces (P1 test split, det_status 'ok', evenly spaced), one at a time, warm
   (a few untimed calls first): the reference is the Keras model called through
   `tf.function` (traced once, then a graph call per face: Keras without its per-call
   Python overhead); against it float TFLite and int8 TFLite (`TfliteScorer`). The naive
   per-call ways, `model.predict(x[None])` and the eager call `model(x[None],
   training=False)`, are kept as labelled rows (their cost is mostly per-call Python and
   set-up, not the model). Median and p90 ms. Keras batched throughput (predict, batch
   256) is given for context.

Other processes on the same cores (another training run, a test suite) make every
number here slower: each measurement reports the share of the CPUs that processes this
benchmark did not start used meanwhile (from /proc; its children are told apart by an
environment variable Ray workers inherit). A training run that fails is run once more
(a 2-worker start can lose the race for its gRPC port), and the report says so.

    .venv/bin/python bench/train.py [--subjects 8] [--seconds 1.0] [--epochs 4] [--batch-size 32]
        [--input-size 48] [--workers 1,2] [--faces 200] [--pipeline-examples 20000]
        [--work-dir DIR] [--lake LAKE] [--out docs/bench_train.md] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

log = logging.getLogger("bench.train")

SAMPLE_SEED = 11
PROTOCOL = "P1"  # the CLI's default --protocol p1 writes OUT/P1
WARMUP_CALLS = 5  # per latency method, not timed
TRACED = "Keras model through `tf.function` (traced once; reference)"  # the latency reference
BATCHED_SIZE = 256
BATCHED_MIN_FACES = 2048  # test faces are repeated up to this many for the batched figure
# a 2-worker start can lose the race for the gRPC port Ray Train picked ("Could not start gRPC server")
TRAIN_ATTEMPTS = 2
FAILED_ATTEMPTS: list[str] = []  # for the report


# --- input -----------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The CLI's environment: a local Ray of its own, quiet TensorFlow."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env[TAG] = str(os.getpid())
    return env


def run_cli(module: str, arguments: list[str], log_path: Path) -> float:
    """`python -m module arguments` in the repo, output to log_path; wall seconds. Raises on failure."""
    command = [sys.executable, "-m", module, *arguments]
    log.info("running %s (log: %s)", " ".join(command[1:]), log_path)
    started = time.perf_counter()
    with open(log_path, "w") as handle:
        code = subprocess.run(
            command, check=False, cwd=REPO, env=child_env(), stdout=handle, stderr=subprocess.STDOUT
        ).returncode
    seconds = time.perf_counter() - started
    if code != 0:
        tail = "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-30:])
        raise RuntimeError(f"{module} exited {code} after {seconds:.0f} s; last lines of {log_path}:\n{tail}")
    return seconds


def build_lake(work: Path, subjects: int, seconds: float) -> Path:
    """A sample tree and its lake under work/ (reused when the tree's arguments are unchanged)."""
    from etl.synthetic.siw_tree import MANIFEST_NAME, SampleManifest, write_sample_tree

    source, lake = work / "siw", work / "lake"
    previous = source / MANIFEST_NAME
    manifest = SampleManifest.from_json(previous.read_text()) if previous.is_file() else None
    if manifest is None or (manifest.subjects, manifest.seconds, manifest.seed) != (subjects, seconds, SAMPLE_SEED):
        shutil.rmtree(lake, ignore_errors=True)
        manifest = write_sample_tree(source, subjects=subjects, seconds=seconds, seed=SAMPLE_SEED)
    log.info("sample: %d videos in %s", len(manifest.videos), source)
    run_cli("jobs.ingest", ["--source", str(source), "--lake", str(lake), "--no-progress"], work / "ingest.log")
    return lake


# --- other processes on the same CPUs --------------------------------------------------------

TAG = "FACELAKE_BENCH_TRAIN"  # in the environment of every process this benchmark starts (Ray workers inherit it)


def _ours(pid: int) -> bool:
    try:
        return pid == os.getpid() or f"{TAG}=".encode() in Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return True  # gone (or unreadable): not counted


def cpu_seconds_of_others() -> dict[int, float]:
    """pid -> CPU seconds so far, for every process this benchmark did not start (Linux /proc)."""
    ticks, seconds = os.sysconf("SC_CLK_TCK"), {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or _ours(int(entry.name)):
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return seconds


class OtherCpu:
    """`with OtherCpu("stage") as other:` -> other.share: the machine's CPU time other processes used
    during the block (a lower bound: processes that end inside the block are not seen)."""

    def __init__(self, stage: str) -> None:
        self.stage, self.share = stage, 0.0

    def __enter__(self) -> Self:
        self.before, self.started = cpu_seconds_of_others(), time.perf_counter()
        return self

    def __exit__(self, *_exc) -> None:
        after, wall = cpu_seconds_of_others(), time.perf_counter() - self.started
        used = sum(max(0.0, s - self.before.get(pid, 0.0)) for pid, s in after.items())
        self.share = used / (wall * (os.cpu_count() or 1))
        (log.warning if self.share > 0.05 else log.info)(
            "%s: other processes used %.0f %% of the CPUs meanwhile", self.stage, 100 * self.share
        )


def workers_label(n: int) -> str:
    return f"{n} worker{'s' if n > 1 else ''}"


# --- 1. training -----------------------------------------------------------------------------


@dataclass
class TrainingRun:
    workers: int
    rows: int
    train_seconds: list[float]  # per epoch, rank 0
    epoch_seconds: list[float]
    wall_seconds: float  # the whole CLI: Ray start, data, training, evaluation, export
    others: float  # share of the CPUs other processes used meanwhile

    @property
    def steady_seconds(self) -> float:
        return statistics.median(self.train_seconds[1:])

    @property
    def examples_per_second(self) -> float:
        return self.rows / self.steady_seconds


def train_rows(lake: Path, model_dir: Path) -> int:
    """Training faces of the train_runs row written for model_dir."""
    from etl.lake.lake import Lake
    from schemas import TRAIN_RUNS

    table = Lake(str(lake)).read(TRAIN_RUNS, columns=["model_dir", "counts_json", "created_at"])
    rows = [r for r in table.to_pylist() if Path(r["model_dir"]).resolve() == model_dir.resolve()]
    if not rows:
        raise RuntimeError(f"no train_runs row for {model_dir} in {lake}")
    latest = max(rows, key=lambda r: r["created_at"])
    return int(json.loads(latest["counts_json"])["train"]["rows"])


def run_training(lake: Path, out: Path, workers: int, args: argparse.Namespace) -> TrainingRun:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    arguments = [
        "--lake",
        str(lake),
        "--out",
        str(out),
        "--workers",
        str(workers),
        "--epochs",
        str(args.epochs),
        "--batch-size",
        str(args.batch_size),
        "--input-size",
        str(args.input_size),
    ]
    for attempt in range(1, TRAIN_ATTEMPTS + 1):
        try:
            with OtherCpu(f"training, {workers_label(workers)}") as other:
                wall = run_cli("jobs.train", arguments, out / "train.log")
            break
        except RuntimeError as error:
            if attempt == TRAIN_ATTEMPTS:
                raise
            log.warning("attempt %d failed, running it again: %s", attempt, error)
            FAILED_ATTEMPTS.append(f"{workers_label(workers)}: {[x for x in str(error).splitlines() if x.strip()][-1]}")
    history = json.loads((out / PROTOCOL / "history.json").read_text())
    if len(history.get("train_seconds", [])) != args.epochs:
        raise RuntimeError(
            f"{out / PROTOCOL / 'history.json'}: expected {args.epochs} epochs of train_seconds, "
            f"got {history.get('train_seconds')}"
        )
    run = TrainingRun(
        workers=workers,
        rows=train_rows(lake, out / PROTOCOL),
        train_seconds=history["train_seconds"],
        epoch_seconds=history["epoch_seconds"],
        wall_seconds=wall,
        others=other.share,
    )
    log.info(
        "%s: %d train faces, train seconds per epoch %s -> %.1f examples/s (CLI %.0f s)",
        workers_label(workers),
        run.rows,
        [round(s, 2) for s in run.train_seconds],
        run.examples_per_second,
        wall,
    )
    return run


# --- 2. input pipeline -----------------------------------------------------------------------


def training_faces(lake: Path, args: argparse.Namespace):
    """(aligned PNGs, targets, class weights) of the P1 training faces, split as the CLI splits them."""
    import pyarrow.compute as pc

    from etl.config import TrainConfig
    from etl.lake.lake import Lake
    from etl.train.data import KEY, read_frame_index
    from etl.train.protocols import parse_protocols, split_protocol
    from schemas import FRAMES

    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, input_size=args.input_size)
    frames = Lake(str(lake))
    index, version = read_frame_index(frames, min_sharpness=config.min_sharpness)
    split = split_protocol(
        index, parse_protocols(config.protocols)[0], validation_fraction=config.validation_fraction, seed=config.seed
    )
    # this process plays the training workers: it holds the part's faces (the CLI's driver does not)
    faces = frames.read(FRAMES, columns=[*KEY, "aligned"], filters=[("det_status", "=", "ok")], version=version)
    train = (
        split.train.select(KEY).join(faces, keys=KEY, join_type="left outer").sort_by([(k, "ascending") for k in KEY])
    )
    targets = (
        pc.equal(split.train.sort_by([(k, "ascending") for k in KEY]).column("label"), "spoof")
        .to_numpy(zero_copy_only=False)
        .astype(np.int32)
    )
    class_weight = {c: float(len(targets) / (2 * max(1, int((targets == c).sum())))) for c in (0, 1)}
    return train.column("aligned").to_pylist(), targets, class_weight


def time_decode(pngs: list[bytes], input_size: int) -> tuple[np.ndarray, float]:
    from etl.train.input import base_size, decode_faces

    started = time.perf_counter()
    images = decode_faces(pngs, base_size(input_size))
    return images, time.perf_counter() - started


def time_pipeline(
    images: np.ndarray, labels: np.ndarray, class_weight: dict, args: argparse.Namespace, examples: int
) -> tuple[int, float]:
    """(faces, seconds) for `examples` faces (whole batches) after a warm-up pass of the same length."""
    from etl.train.input import make_dataset

    dataset = make_dataset(
        images,
        labels,
        input_size=args.input_size,
        batch_size=args.batch_size,
        training=True,
        repeat=True,
        class_weight=class_weight,
    )
    steps = max(1, -(-examples // args.batch_size))
    batches = iter(dataset)
    for _ in range(steps):  # warm-up: fills cache(), lets AUTOTUNE settle
        next(batches)
    started = time.perf_counter()
    faces = sum(int(next(batches)[0].shape[0]) for _ in range(steps))
    return faces, time.perf_counter() - started


# --- 3. predict latency ----------------------------------------------------------------------


def test_faces(lake: Path, input_size: int) -> np.ndarray:
    """Model inputs for every P1 test face (split 'test', det_status 'ok')."""
    from etl.lake.lake import Lake
    from etl.train.evaluate import faces_of
    from schemas import FRAMES

    table = Lake(str(lake)).read(
        FRAMES,
        columns=["video_id", "frame_index", "aligned"],
        filters=[("split", "=", "test"), ("det_status", "=", "ok")],
    )
    return faces_of(table, input_size).astype(np.float32)


def evenly_spaced(faces: np.ndarray, n: int) -> np.ndarray:
    return faces[np.unique(np.linspace(0, len(faces) - 1, min(n, len(faces))).astype(int))]


def per_face_ms(score_one, faces: np.ndarray) -> np.ndarray:
    """Milliseconds per call of score_one(face) over faces, after WARMUP_CALLS untimed calls."""
    for face in faces[:WARMUP_CALLS]:
        score_one(face)
    times = np.empty(len(faces))
    for i, face in enumerate(faces):
        started = time.perf_counter()
        score_one(face)
        times[i] = time.perf_counter() - started
    return times * 1000


def load_trained_model(model_dir: Path):
    from etl.train.model import load_model

    return load_model(str(model_dir / "model.keras"))


def latency_methods(model, model_dir: Path) -> dict:
    """table label -> score one face (h, w, 3) float32; the first (the traced Keras call) is the reference."""
    import tensorflow as tf

    from etl.train.export import TFLITE_FILE, TFLITE_INT8_FILE, TfliteScorer

    tflite, tflite_int8 = TfliteScorer(model_dir / TFLITE_FILE), TfliteScorer(model_dir / TFLITE_INT8_FILE)
    traced = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return {
        TRACED: lambda face: traced(face[None]).numpy(),
        f"TFLite float (`{TFLITE_FILE}`)": lambda face: tflite(face[None]),
        f"TFLite int8 (`{TFLITE_INT8_FILE}`)": lambda face: tflite_int8(face[None]),
        "naive: Keras `model.predict(x[None])` per call": lambda face: model.predict(face[None], verbose=0),
        "naive: Keras eager call `model(x[None], training=False)`": lambda face: model(
            face[None], training=False
        ).numpy(),
    }


def time_latency(model, model_dir: Path, faces: np.ndarray) -> dict[str, tuple[np.ndarray, float]]:
    """table label -> (ms per face, share of the CPUs other processes used meanwhile)."""
    results = {}
    for name, score_one in latency_methods(model, model_dir).items():
        with OtherCpu(name) as other:
            ms = per_face_ms(score_one, faces)
        results[name] = (ms, other.share)
        log.info("%s: median %.2f ms, p90 %.2f ms per face", name, np.median(ms), np.percentile(ms, 90))
    return results


def keras_batched_rate(model, faces: np.ndarray) -> tuple[int, float]:
    """(faces, faces/s) of Keras predict at batch BATCHED_SIZE, after one warm-up pass."""
    repeats = max(1, -(-BATCHED_MIN_FACES // len(faces)))
    batch = np.concatenate([faces] * repeats)
    model.predict(batch, batch_size=BATCHED_SIZE, verbose=0)
    started = time.perf_counter()
    model.predict(batch, batch_size=BATCHED_SIZE, verbose=0)
    return len(batch), len(batch) / (time.perf_counter() - started)


# --- report ----------------------------------------------------------------------------------


def others_label(share: float) -> str:
    return f"{100 * share:.0f} %"


def training_table(runs: list[TrainingRun], args: argparse.Namespace) -> list[str]:
    base = runs[0]
    lines = [
        "## 1. Training (Ray Train, P1, real CLI)",
        "",
        (
            "| workers | train faces | global batch | epochs | epoch 1 train s (tracing) | median train s, epochs 2.."
            f"{args.epochs} | examples/s | × {workers_label(base.workers)} | "
            "median epoch s (with validation) | CLI wall s | CPU used by other processes |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.workers} | {r.rows} | {args.batch_size} | {args.epochs} | {r.train_seconds[0]:.2f} | "
            f"{r.steady_seconds:.2f} | {r.examples_per_second:.1f} | "
            f"{r.examples_per_second / base.examples_per_second:.2f} | "
            f"{statistics.median(r.epoch_seconds[1:]):.2f} | {r.wall_seconds:.0f} | {others_label(r.others)} |"
        )
    lines += [
        "",
        "Per-epoch `train_seconds`: "
        + "; ".join(f"{workers_label(r.workers)} {', '.join(f'{s:.2f}' for s in r.train_seconds)}" for r in runs)
        + ".",
    ]
    return lines


def pipeline_table(stages: dict[str, tuple[int, float, float]], runs: list[TrainingRun]) -> list[str]:
    """stages: label -> (faces, seconds, share of the CPUs other processes used)."""
    base = runs[0]
    fastest = max(runs, key=lambda r: r.examples_per_second)
    lines = [
        "## 2. Input pipeline alone (no model)",
        "",
        (
            f"| stage | faces | seconds | examples/s | × training ({workers_label(base.workers)}) | "
            f"× fastest training ({workers_label(fastest.workers)}) | CPU used by other processes |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for name, (faces, seconds, others) in stages.items():
        rate = faces / seconds
        lines.append(
            f"| {name} | {faces} | {seconds:.2f} | {rate:.0f} | {rate / base.examples_per_second:.1f} | "
            f"{rate / fastest.examples_per_second:.1f} | {others_label(others)} |"
        )
    return lines


def latency_table(latency: dict[str, tuple[np.ndarray, float]], batched: tuple[int, float]) -> list[str]:
    reference = float(np.median(latency[TRACED][0]))
    lines = [
        "## 3. Predict latency per face (CPU, one face at a time, warm)",
        "",
        (
            "| method | faces | median ms | p90 ms | faces/s (1 / median) | speed-up vs the traced Keras call "
            "(median) | CPU used by other processes |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for name, (ms, others) in latency.items():
        median = float(np.median(ms))
        lines.append(
            f"| {name} | {len(ms)} | {median:.2f} | {np.percentile(ms, 90):.2f} | {1000 / median:.0f} | "
            f"{reference / median:.2f}× | {others_label(others)} |"
        )
    faces, rate = batched
    lines += [
        "",
        (
            "The naive rows measure Keras' per-call overhead more than the model (`predict` sets up its "
            "data handling on every call; the eager call dispatches op by op); below 1× they are slower "
            "than the traced call."
        ),
        "",
        (
            f"For context, Keras `model.predict` batched ({BATCHED_SIZE} a batch, {faces} faces): "
            f"{rate:.0f} faces/s ({1000 / rate:.2f} ms per face)."
        ),
    ]
    return lines


def notes(args: argparse.Namespace, lake: Path, total_seconds: float) -> list[str]:
    import tensorflow as tf

    cpus = os.cpu_count() or 1
    sample = (
        f"sample lake: `write_sample_tree(subjects={args.subjects}, seconds={args.seconds}, seed={SAMPLE_SEED})`"
        if args.lake is None
        else f"lake: {lake}"
    )
    lines = [
        "## Setup",
        "",
        f"- {sample}; P1; input {args.input_size} px; MobileNet (the CLI's defaults otherwise)",
        (
            f"- machine: {platform.processor() or platform.machine()}, {cpus} CPUs, no GPU; "
            f"Python {platform.python_version()}, TensorFlow {tf.__version__}; whole benchmark "
            f"{total_seconds / 60:.1f} min"
        ),
        (
            "- training examples/s = train faces / median `train_seconds` of epochs 2..E (rank 0's training "
            "steps, without validation); every epoch runs ceil(faces / batch) global steps"
        ),
        (
            "- pipeline and latency ran in the benchmark's own process, after the training runs, with all cores; "
            "the pipeline ratio is pipeline examples/s ÷ training examples/s"
        ),
        (
            "- CPU used by other processes: CPU time of processes this benchmark did not start, as a share of "
            "all CPUs over the measurement (a lower bound); above a few % the row was slowed by them"
        ),
    ]
    if FAILED_ATTEMPTS:
        lines.append(f"- training runs that failed and were run again: {'; '.join(FAILED_ATTEMPTS)}")
    if max(args.workers) >= cpus:
        lines.append(
            f"- {max(args.workers)} workers on {cpus} CPUs share the same cores (and all-reduce the "
            "gradients through the loopback every step): the ratio shows the cost of distributing, "
            "not a speed-up"
        )
    return lines


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=8, help="sample tree subjects")
    parser.add_argument("--seconds", type=float, default=1.0, help="sample video length")
    parser.add_argument("--epochs", type=int, default=4, help=">= 2: epoch 1 (tracing) is not in the rate")
    parser.add_argument("--batch-size", type=int, default=32, help="global batch")
    parser.add_argument("--input-size", type=int, default=48)
    parser.add_argument("--workers", default="1,2", help="Ray Train worker counts, comma-separated (first = reference)")
    parser.add_argument("--faces", type=int, default=200, help="test faces timed one at a time per method")
    parser.add_argument(
        "--pipeline-examples",
        type=int,
        default=20000,
        help="at least this many faces through the tf.data pipeline (else one epoch)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="sample tree, lake and models go here (default: a temporary folder, removed at the end)",
    )
    parser.add_argument(
        "--lake",
        type=Path,
        default=None,
        help="use this lake instead of building one (the training runs add train_runs rows to it)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "bench_train.md", help="Markdown report")
    parser.add_argument("--json", type=Path, default=None, help="write every figure to this JSON file")
    args = parser.parse_args(argv)
    args.workers = [int(w) for w in args.workers.split(",") if w.strip()]
    if args.epochs < 2:
        parser.error("--epochs must be >= 2")
    if not args.workers or min(args.workers) < 1:
        parser.error("--workers needs positive worker counts")
    return args


def figures(
    runs: list[TrainingRun],
    stages: dict[str, tuple[int, float, float]],
    latency: dict[str, tuple[np.ndarray, float]],
    batched: tuple[int, float],
) -> dict:
    """Every figure of the report, for --json."""
    reference = float(np.median(latency[TRACED][0]))
    return {
        "training": [
            {
                "workers": r.workers,
                "rows": r.rows,
                "train_seconds": r.train_seconds,
                "epoch_seconds": r.epoch_seconds,
                "examples_per_second": r.examples_per_second,
                "ratio_vs_first": r.examples_per_second / runs[0].examples_per_second,
                "wall_seconds": r.wall_seconds,
                "other_cpu_share": r.others,
            }
            for r in runs
        ],
        "pipeline": [
            {
                "stage": name,
                "faces": faces,
                "seconds": seconds,
                "examples_per_second": faces / seconds,
                "other_cpu_share": others,
            }
            for name, (faces, seconds, others) in stages.items()
        ],
        "latency_reference": TRACED,
        "latency": [
            {
                "method": name,
                "faces": len(ms),
                "median_ms": float(np.median(ms)),
                "p90_ms": float(np.percentile(ms, 90)),
                "speedup_vs_traced": reference / float(np.median(ms)),
                "other_cpu_share": others,
            }
            for name, (ms, others) in latency.items()
        ],
        "keras_batched": {"faces": batched[0], "faces_per_second": batched[1]},
    }


def run_benchmark(args: argparse.Namespace, work: Path) -> tuple[str, dict]:
    """(the Markdown report, every figure)."""
    started = time.perf_counter()
    lake = args.lake.resolve() if args.lake else build_lake(work, args.subjects, args.seconds)
    runs = [run_training(lake, work / f"train-{w}w", w, args) for w in args.workers]

    from etl.train.model import use_legacy_keras

    use_legacy_keras()  # before TensorFlow is imported in this process
    pngs, targets, class_weight = training_faces(lake, args)
    if len(pngs) != runs[0].rows:
        log.warning("the benchmark's P1 split has %d training faces, the CLI's %d", len(pngs), runs[0].rows)
    with OtherCpu("decode") as decode_others:
        images, decode_seconds = time_decode(pngs, args.input_size)
    with OtherCpu("tf.data pipeline") as pipeline_others:
        faces, pipeline_seconds = time_pipeline(
            images, targets, class_weight, args, max(len(pngs), args.pipeline_examples)
        )
    stages = {
        "decode PNG → base size (`decode_faces`, once per run)": (len(pngs), decode_seconds, decode_others.share),
        "tf.data `make_dataset(training=True)`: crop, flip, jitter, batch": (
            faces,
            pipeline_seconds,
            pipeline_others.share,
        ),
    }
    log.info("decode %.0f faces/s, pipeline %.0f faces/s", len(pngs) / decode_seconds, faces / pipeline_seconds)

    model_dir = work / f"train-{args.workers[0]}w" / PROTOCOL
    model, all_test = load_trained_model(model_dir), test_faces(lake, args.input_size)
    latency = time_latency(model, model_dir, evenly_spaced(all_test, args.faces))
    batched = keras_batched_rate(model, all_test)
    total_seconds = time.perf_counter() - started
    lines = (
        training_table(runs, args)
        + [""]
        + pipeline_table(stages, runs)
        + [""]
        + latency_table(latency, batched)
        + [""]
        + notes(args, lake, total_seconds)
    )
    results = {"bench": "train", "total_seconds": total_seconds, **figures(runs, stages, latency, batched)}
    return "\n".join(["# Training benchmark (issue 5)", "", *lines]), results


def main(argv: list[str] | None = None) -> int:
    from bench.results import write_json

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("facelake.etl.synthetic.siw_tree").setLevel(logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.pop("RAY_ADDRESS", None)
    temporary = args.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="facelake-bench-train-")) if temporary else args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    try:
        report, results = run_benchmark(args, work)
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    sys.stdout.write(report + "\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n")
    log.info("wrote %s", args.out)
    if args.json:
        params = {k: v for k, v in vars(args).items() if k not in ("out", "json")}
        write_json(args.json, {**results, "params": params})
    return 0


if __name__ == "__main__":
    sys.exit(main())
