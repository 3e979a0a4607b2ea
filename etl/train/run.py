"""The train and predict jobs' orchestration: `run_train` and `run_predict`.

The layer rule: `jobs/train.py` and `jobs/predict.py` only parse arguments, build the typed
config, call the run function here and map its outcome to an exit code and the lines they
print. This module alone records the training run (`recorded_run`), starts Ray
(`etl.ray_runtime`) and writes to the lake; the modules beside it transform data and never
start a job. It never imports `jobs`: the command line passes what it decides (Ray Data's
progress bars, where predict's JSON lines go, its progress bar) as arguments.

`run_train`, for each SiW protocol fold: read the small columns of `frames` at one pinned
table version (recorded), split by protocol (validation split off the training subjects),
let Ray Data read the faces of each part from that version's files, train with
`TensorflowTrainer` (MultiWorkerMirroredStrategy) keeping the best `val_loss` checkpoint,
then evaluate with Ray Data actors that return only scores (frame and video thresholds on
validation, metrics on test at frame and video level), export Keras / SavedModel / TFLite
float and int8 in a Ray task, and write the metrics, history, plots and model card into
OUT/<protocol>/ and a `train_runs` row; OUT/metrics.md and OUT/summary.json hold every fold's
results and, for P2 and P3 when several of their folds ran, mean ± std over the folds.
The driver never holds image bytes (`etl.train.data`).

`run_predict`: detect, align, gate and score every photo and video with one exported model,
one JSON line per face / scored frame / video summary handed to `emit`.
"""

from __future__ import annotations

# tf-keras must be chosen before TensorFlow is imported anywhere in this process
from etl.train.model import use_legacy_keras

use_legacy_keras()

import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from etl.config import TrainConfig
from etl.errors import flag
from etl.lake.catalog import refresh_catalog_if_local
from etl.lake.lake import Lake
from etl.lake.rows import sql_string
from etl.lake.runs import recorded_run
from etl.ray_runtime import init_ray
from etl.train.data import (
    evenly_spaced,
    faces_dataset,
    read_frame_index,
    score_part,
    training_dataset,
    with_target,
)
from etl.train.metrics import FOLD_STD_DDOF, fold_summary, mean_std_text
from etl.train.predict import PredictConfig
from etl.train.protocols import Protocol, ProtocolSplit, parse_protocols, split_protocol
from schemas import RUNS, TRAIN_RUNS
from schemas.vocabulary import Label

__all__ = [
    "PredictSummary",
    "ProtocolOutcome",
    "fold_result",
    "fold_summaries",
    "run_predict",
    "run_train",
    "summary_json",
    "summary_table",
]

# the jobs' own loggers: the log file names each line's logger, and its lines read `facelake.train: ...`
# (`facelake.predict: ...`) as they did when this code lived in jobs/
log = logging.getLogger("facelake.train")
_predict_log = logging.getLogger("facelake.predict")


# ------------------------------------------------------------------ train


@dataclass
class ProtocolOutcome:
    """One trained protocol fold, evaluated and exported: what its model folder and `train_runs` row are made of.

    `best_metrics` is the best checkpoint's reported metrics (`epoch`, `val_loss`); `files` the
    exported files by role; `exported` the TFLite-vs-Keras check; `started` the fold's
    `time.perf_counter()` start.
    """

    protocol: Protocol
    split: ProtocolSplit
    version: int
    folder: Path
    best_metrics: dict
    evaluation: object  # etl.train.evaluate.Evaluation (imported lazily: it pulls in TensorFlow's helpers)
    files: dict
    exported: dict
    started: float


def run_train(
    *,
    lake: Lake,
    out: Path,
    config: TrainConfig,
    address: str | None = None,
    run_id: str | None = None,
    ray_progress_bars: bool = True,
) -> list[dict]:
    """Train, evaluate and export one model per protocol fold of `config.protocols`.

    Args:
        lake: the lake whose `frames` train the model; gets a `runs` and a `train_runs` row per fold.
        out: the folder of the model folders (OUT/<protocol>/), `metrics.md` and `summary.json`.
        address: a Ray cluster's address (None: a local Ray).
        ray_progress_bars: whether Ray Data shows its progress bars (the command line: only with --verbose).

    Returns:
        One dict per fold (`fold_result`): protocol, folder, thresholds, and frame/video ACER, APCER, BPCER,
        test EER and AUC.

    Raises:
        ValueError: a protocol's part lacks live or attack rows, or the protocols do not parse.
        RuntimeError: Ray Train reported a failed training.
    """
    protocols = parse_protocols(config.protocols)
    for spec in (TRAIN_RUNS, RUNS):
        lake.ensure(spec)
    results: list[dict] = []
    with recorded_run(
        lake,
        job="train",
        source=lake.root,
        args={"config": asdict(config), "out": str(out)},
        run_id=run_id,
        counts=lambda: {"protocols": results},
    ) as record:
        frames, version = read_frame_index(lake, min_sharpness=config.min_sharpness)
        log.info("frames version %d: %d ok faces", version, frames.num_rows)
        # Ray Data needs CPU slots beside the training workers to feed them (logical CPUs)
        ray = init_ray(address=address, num_cpus=config.workers + 2)
        if not ray_progress_bars:
            # datasets carry the driver's context to Ray Train
            ray.data.DataContext.get_current().enable_progress_bars = False
        _name_worker_logs()
        for protocol in protocols:
            outcome = _train_protocol(ray, lake, frames, version, protocol, config, out)
            results.append(_finish(lake, outcome, config, record.run_id))
    (out / "metrics.md").write_text(summary_table(results))
    (out / "summary.json").write_text(json.dumps(summary_json(results), indent=2, sort_keys=True, default=float))
    refresh_catalog_if_local(lake)
    return results


def _name_worker_logs() -> None:
    """Name, in the log file only, where Ray keeps the workers' own output (a local Ray's session folder)."""
    try:
        from ray._private import worker  # no public API names the session's log folder

        folder = worker._global_node.get_logs_dir_path()
    except Exception:  # noqa: BLE001 - a client connection has no local session folder
        return
    # not a facelake logger: the line goes to the log file, and to the terminal only with --verbose
    logging.getLogger("ray_workers").info("the Ray Train workers' own output is in %s (worker-*.out/.err)", folder)


def _train_protocol(
    ray, lake: Lake, frames: pa.Table, version: int, protocol: Protocol, config: TrainConfig, out: Path
) -> ProtocolOutcome:
    from ray.train import CheckpointConfig, DataConfig, RunConfig, ScalingConfig
    from ray.train.tensorflow import TensorflowTrainer

    from etl.train.loop import TrainingMessages, train_loop_per_worker

    started = time.perf_counter()
    split = split_protocol(
        frames,
        protocol,
        validation_fraction=config.validation_fraction,
        seed=config.seed,
        p1_validation_frames=config.p1_validation_frames,
    )
    folder = out / protocol.label
    folder.mkdir(parents=True, exist_ok=True)
    train, validation = with_target(split.train), with_target(split.validation)
    history_path = (folder / "history.json").resolve()
    ray_runs = (out / "ray_results").resolve()
    if not config.resume:
        # a fresh run: Ray Train would otherwise restore this protocol's earlier run of the same name
        shutil.rmtree(ray_runs / protocol.label, ignore_errors=True)
        history_path.unlink(missing_ok=True)
    # SiW has about twice as many attack as live videos: weigh the classes evenly
    targets = train.column("target").to_numpy()
    class_weight = {c: float(len(targets) / (2 * max(1, int((targets == c).sum())))) for c in (0, 1)}
    messages = TrainingMessages(
        label=protocol.label, epochs=config.epochs, workers=config.workers, history_path=str(history_path), log=log
    )
    loop_config = {
        **asdict(config),
        "n_train": train.num_rows,
        "class_weight": class_weight,
        "messages": messages.queue,
    }
    trainer = TensorflowTrainer(
        train_loop_per_worker,
        train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=config.workers, use_gpu=config.use_gpu),
        datasets={
            "train": training_dataset(ray, lake, version, train, seed=config.seed),
            "validation": faces_dataset(ray, lake, version, validation, columns=["aligned", "target"]),
        },
        # each worker trains on its part of the training set and validates on all of it
        dataset_config=DataConfig(datasets_to_split=["train"]),
        run_config=RunConfig(
            name=protocol.label,
            storage_path=str(ray_runs),
            checkpoint_config=CheckpointConfig(
                num_to_keep=2, checkpoint_score_attribute="val_loss", checkpoint_score_order="min"
            ),
        ),
    )
    with messages:  # the workers' lines, one per epoch, logged here as they arrive
        result = trainer.fit()
    if result.error:
        raise RuntimeError(f"{protocol.label}: training failed: {result.error}")
    best, best_metrics = min(result.best_checkpoints, key=lambda item: item[1]["val_loss"])
    with best.as_directory() as checkpoint_dir:  # a local folder for a local storage path (--out)
        evaluation, files, exported = _evaluate_and_export(
            ray, lake, version, split, train, os.path.join(checkpoint_dir, "model.keras"), config, folder
        )
    return ProtocolOutcome(
        protocol=protocol,
        split=split,
        version=version,
        folder=folder,
        best_metrics=best_metrics,
        evaluation=evaluation,
        files=files,
        exported=exported,
        started=started,
    )


def _evaluate_and_export(
    ray, lake: Lake, version: int, split: ProtocolSplit, train: pa.Table, model_path: str, config: TrainConfig, folder
):
    """Scores of the validation and test parts (Ray Data actors: only scores come back), the
    threshold and metrics; beside them, a Ray task exports the model and scores test faces with
    every format, checked against Keras once the threshold is known."""
    from etl.train.evaluate import evaluate, pad_scores
    from etl.train.export import EXPORT_CHECK_FACES, REPRESENTATIVE_FACES, export_check_figures, export_from_datasets

    columns = ["video_id", "frame_index", "aligned"]
    representative = faces_dataset(ray, lake, version, evenly_spaced(train, REPRESENTATIVE_FACES), columns=columns)
    validation, test = with_target(split.validation), with_target(split.test)
    check = faces_dataset(ray, lake, version, evenly_spaced(test, EXPORT_CHECK_FACES), columns=columns)
    export = ray.remote(num_cpus=1)(export_from_datasets).remote(
        model_path, str(folder.resolve()), representative, check, config.input_size
    )
    # validation and test in one pass: one pool of model actors, loaded once
    both = pa.concat_tables([validation, test])
    scores = score_part(
        ray,
        lake,
        version,
        both,
        model_path=model_path,
        input_size=config.input_size,
        workers=config.workers,
        use_gpu=config.use_gpu,
    )
    cut = split.validation.num_rows
    evaluation = evaluate(pad_scores(split.validation, scores[:cut]), pad_scores(split.test, scores[cut:]))
    files, check_scores = ray.get(export)
    return evaluation, files, export_check_figures(*check_scores, evaluation.threshold)


def _finish(lake: Lake, outcome: ProtocolOutcome, config: TrainConfig, run_id: str) -> dict:
    """Write a fold's model folder (metrics, plots, model card) and its `train_runs` row; its line of results."""
    label, evaluation = outcome.protocol.label, outcome.evaluation
    log.info(
        "%s: TFLite vs Keras on %d test faces: float max |diff| %.2g, int8 decisions agree on %.1f %%",
        label,
        outcome.exported["faces"],
        outcome.exported.get("tflite_max_abs_diff", 0.0),
        100 * outcome.exported.get("int8_decision_agreement", 1.0),
    )
    metrics, epochs_run = _write_model_folder(outcome, config, train_id=f"{run_id}/{label}")
    best = outcome.best_metrics
    row = {
        "train_id": f"{run_id}/{label}",
        "run_id": run_id,
        "protocol": label,
        "frames_version": outcome.version,
        "backbone": config.backbone,
        "input_size": config.input_size,
        "epochs_run": epochs_run,
        "best_epoch": int(best["epoch"]),
        "best_val_loss": float(best["val_loss"]),
        "threshold": evaluation.threshold,
        "frame_acer": evaluation.frame.acer,
        "video_acer": evaluation.video.acer,
        "frame_auc": evaluation.frame.auc,
        "frame_eer": evaluation.frame.eer,
        "counts_json": json.dumps(outcome.split.counts(), sort_keys=True, default=str),
        "metrics_json": json.dumps(metrics, sort_keys=True, default=float),
        "model_dir": str(outcome.folder.resolve()),
        "created_at": datetime.now(timezone.utc),
    }
    lake.replace_where(
        TRAIN_RUNS,
        pa.Table.from_pylist([row], schema=TRAIN_RUNS.schema),
        predicate=f"train_id = {sql_string(row['train_id'])}",
    )
    log.info(
        "%s: thresholds frame %.4f, video %.4f; test ACER frame %.2f %%, video %.2f %%; test EER frame %.2f %%, "
        "video %.2f %%; AUC %.4f (%.0f s)",
        label,
        evaluation.threshold,
        evaluation.video_threshold,
        evaluation.frame.acer * 100,
        evaluation.video.acer * 100,
        evaluation.frame.eer * 100,
        evaluation.video.eer * 100,
        evaluation.frame.auc,
        time.perf_counter() - outcome.started,
    )
    return fold_result(label, outcome.folder, evaluation)


def fold_result(label: str, folder: Path, evaluation) -> dict:
    """A fold's line of results (what `run_train` returns, `summary_table` and `summary.json` show).

    `threshold` is the frame threshold (as in metrics.json); `*_apcer` is ISO/IEC 30107-3's APCER (the
    maximum over attack types, the ACER's input); `*_eer` the test split's own EER (the figure comparable
    with published SiW tables); `*_acer` the ACER at the validation thresholds (facelake's operating figure).
    """
    out: dict = {
        "protocol": label,
        "folder": str(folder),
        "threshold": evaluation.threshold,
        "video_threshold": evaluation.video_threshold,
    }
    for level, report in (("frame", evaluation.frame), ("video", evaluation.video)):
        out.update(
            {
                f"{level}_acer": report.acer,
                f"{level}_apcer": report.max_apcer,
                f"{level}_apcer_pooled": report.apcer_pooled,
                f"{level}_bpcer": report.bpcer,
                f"{level}_eer": report.eer,
                f"{level}_auc": report.auc,
            }
        )
    return out


def _write_model_folder(outcome: ProtocolOutcome, config: TrainConfig, *, train_id: str) -> tuple[dict, int]:
    """The plots, metrics.json and model card beside the exported model; returns (metrics, epochs run).

    metrics.json names the model's `train_runs` row (`train_id`) and what its parts were made of
    (validation subjects and frames, the sharpness gate), so `facelake score` can tell which faces
    each model learned from."""
    from etl.train.evaluate import write_model_card
    from etl.train.export import sharpness_profile
    from etl.train.forecast import fit_exponential
    from etl.train.plots import plot_roc_det, plot_training

    label, folder, evaluation, best = outcome.protocol.label, outcome.folder, outcome.evaluation, outcome.best_metrics
    history = json.loads((folder / "history.json").read_text()) if (folder / "history.json").is_file() else {}
    forecast = None
    try:
        forecast = fit_exponential(history.get("loss", []))
    except (ValueError, RuntimeError) as error:
        log.debug("%s: no loss forecast (%s)", label, error)
    plot_training(history, folder / "training.png", forecast)
    plot_roc_det(
        {"validation (frame)": evaluation.validation_frame, "test (frame)": evaluation.test_frame},
        folder / "roc_det.png",
    )
    outcome.files.update(
        history="history.json",
        metrics="metrics.json",
        training_plot="training.png",
        roc_det_plot="roc_det.png",
        model_card="model_card.md",
    )
    sharpness = sharpness_profile(outcome.split.train.column("sharpness_count").to_pylist(), config.min_sharpness)
    epochs_run = len(history.get("loss", [])) or int(best.get("epoch", 0)) + 1
    metrics = {
        "train_id": train_id,
        "protocol": label,
        "frames_version": outcome.version,
        **evaluation.to_dict(),
        "best_epoch": int(best["epoch"]),
        "best_val_loss": float(best["val_loss"]),
        "validation_subjects": list(outcome.split.validation_subjects),
        "validation_frames": outcome.split.validation_frames,
        "loss_forecast": None
        if forecast is None
        else {"a": forecast.a, "b": forecast.b, "c": forecast.c, "rmse": forecast.rmse},
        "input_size": config.input_size,
        "backbone": config.backbone,
        "export_check": outcome.exported,
        "sharpness": sharpness,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True, default=float))
    write_model_card(
        folder / "model_card.md",
        protocol=label,
        frames_version=outcome.version,
        config=asdict(config),
        counts=outcome.split.counts(),
        evaluation=evaluation,
        best_epoch=int(best["epoch"]),
        epochs_run=epochs_run,
        files=outcome.files,
        export=outcome.exported,
        sharpness=sharpness,
    )
    return metrics, epochs_run


# what a protocol's folds are summarised by (mean ± std), at frame and video level
FOLD_METRICS = tuple(
    f"{level}_{metric}" for level in ("frame", "video") for metric in ("acer", "apcer", "bpcer", "eer", "auc")
)
SUMMARY_COLUMNS = ("frame_acer", "video_acer", "frame_eer", "video_eer")
SUMMARY_LEGEND = (
    "ACER: at the thresholds chosen on the validation subjects (frames: frame threshold; videos: video threshold), "
    "facelake's operating figure. Test EER: the test split's own EER, the figure comparable with published SiW "
    "tables."
)
SUMMARY_LEGEND_FOLDS = " Rows `mean ± std`: over the protocol's folds that ran, population std (ddof {ddof})."


def fold_summaries(results: list[dict]) -> dict[str, dict]:
    """Per protocol with several folds among `results` (P2.1-P2.4, P3.1-P3.2): `fold_summary` of its folds'
    ACER, APCER (ISO: max over types), BPCER, test EER and AUC at frame and video level. A protocol with one
    fold in the run gets none."""
    by_protocol: dict[str, dict[str, dict]] = {}
    for result in results:
        name, dot, _ = result["protocol"].partition(".")
        if dot:
            by_protocol.setdefault(name, {})[result["protocol"]] = result
    return {name: fold_summary(folds, FOLD_METRICS) for name, folds in by_protocol.items() if len(folds) > 1}


def summary_json(results: list[dict]) -> dict:
    """OUT/summary.json: every fold's results and, per protocol with several folds, mean ± std over them."""
    return {"folds": results, "fold_summaries": fold_summaries(results)}


def summary_table(results: list[dict]) -> str:
    """Every fold's results as a Markdown table (OUT/metrics.md, and train's stdout), a `mean ± std` row after
    the folds of P2 and P3 when several of them ran, and a line saying which figure is which."""
    header = (
        "| protocol | frame ACER % | video ACER % | frame test EER % | video test EER % | frame AUC "
        "| frame threshold | video threshold |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    summaries = fold_summaries(results)
    # each summary row follows the last of its protocol's folds
    last = {r["protocol"].partition(".")[0]: index for index, r in enumerate(results)}
    for index, r in enumerate(results):
        cells = [f"{r[key] * 100:.2f}" for key in SUMMARY_COLUMNS]
        lines.append(
            f"| {r['protocol']} | {' | '.join(cells)} | {r['frame_auc']:.4f} | {r['threshold']:.4f} | "
            f"{r['video_threshold']:.4f} |"
        )
        name = r["protocol"].partition(".")[0]
        if name in summaries and last[name] == index:
            lines.append(_summary_row(name, summaries[name]))
    legend = SUMMARY_LEGEND + (SUMMARY_LEGEND_FOLDS.format(ddof=FOLD_STD_DDOF) if summaries else "")
    return "\n".join(lines) + "\n\n" + legend + "\n"


def _summary_row(name: str, summary: dict) -> str:
    """`| P2 (mean ± std over 4 folds) | 0.57 ± 0.69 | ... |`."""
    metrics = summary["metrics"]
    cells = [mean_std_text(metrics[key]) for key in SUMMARY_COLUMNS]
    auc = mean_std_text(metrics["frame_auc"], scale=1.0, digits=4)
    return f"| {name} (mean ± std over {summary['n_folds']} folds) | {' | '.join(cells)} | {auc} | – | – |"


# ------------------------------------------------------------------ predict


@dataclass
class PredictSummary:
    """What a predict run came to: how many inputs ended in each outcome (`etl.train.predict.OUTCOMES`)."""

    total: int
    outcomes: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def scored(self) -> int:
        """Inputs with a score: a decision or too_blurry (not no_face, not unreadable)."""
        return self.total - self.outcomes["no_face"] - self.outcomes["unreadable"]

    def line(self) -> str:
        """The one summary line predict ends with."""
        outcomes = self.outcomes
        scored = outcomes[Label.LIVE] + outcomes[Label.SPOOF] + outcomes["too_blurry"]
        return (
            f"scored {scored} of {self.total} inputs: {outcomes[Label.LIVE]} live, {outcomes[Label.SPOOF]} spoof, "
            f"{outcomes['too_blurry']} too_blurry; {outcomes['no_face']} no_face, {outcomes['unreadable']} "
            f"unreadable ({self.seconds:.1f} s)"
        )


def run_predict(
    config: PredictConfig,
    paths: Sequence[Path | str],
    *,
    emit: Callable[[dict], None],
    progress: Callable[[int], object] | None = None,
) -> PredictSummary:
    """Score every photo and video under `paths` with the model of `config.model`.

    Args:
        config: the model folder and format, frame stride, sharpness gate and detector.
        paths: files and folders (walked for photos and videos); a missing path becomes an `unreadable` line.
        emit: called with each JSON line (a dict) as soon as it is known.
        progress: called once with the number of inputs; returns a bar with `update(n)` and `close()`.

    Returns:
        The count of inputs per outcome, and the seconds the scoring took.

    Raises:
        ModelFilesError: the model folder lacks a file predict needs.
        ValueError: the model folder's metrics.json or model is inconsistent, or the detector cannot load.
    """
    from etl.faces.detect import cached_detector
    from etl.train.predict import Predictor, expand_paths, input_outcome

    predictor = Predictor(config.model, model_format=config.model_format)
    detector = cached_detector(config.detector)
    _log_gate(predictor, config.min_sharpness)
    files = expand_paths(paths)
    started = time.perf_counter()
    summary = PredictSummary(total=len(files))
    options = {"detector": detector, "detector_config": config.detector, "min_sharpness": config.min_sharpness}
    bar = progress(len(files)) if progress else None
    try:
        for path in files:
            lines = _score_file(path, predictor, config.every_k, options)
            for line in lines:
                emit(line)
            outcome = input_outcome(lines)
            summary.outcomes[outcome] += 1
            if outcome == "unreadable":
                _predict_log.warning("unreadable: %s: %s", path, lines[-1].get("reason") if lines else "no output")
            _predict_log.debug("%s: %s", path, outcome)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _log_gate(predictor, min_sharpness: int | None) -> None:
    """One line: the gate in force and where it comes from."""
    from etl.faces.sharpness import ANDROID_BLUR_GATE

    option = flag("min_sharpness")
    if min_sharpness is not None:
        _predict_log.info("sharpness gate %d (%s)", min_sharpness, option)
        return
    source = predictor.min_sharpness_source
    what = (
        f"sharpness gate {source}"
        if source.startswith("off")
        else f"sharpness gate {predictor.min_sharpness} ({source})"
    )
    _predict_log.info("%s; %s android (%d) or a count sets another", what, option, ANDROID_BLUR_GATE)


def _score_file(path: Path, predictor, every_k: int, options: dict) -> list[dict]:
    """One input's lines; a failure of any kind becomes one `error` line, never the end of the run."""
    from etl.train.predict import media_kind, predict_image, predict_video

    try:
        if media_kind(path) == "video":
            return predict_video(path, predictor, every_k=every_k, **options)
        return predict_image(path, predictor, **options)
    except Exception as error:  # noqa: BLE001 - a per-file failure is a line, never the end of the run
        _predict_log.debug("%s failed", path, exc_info=True)
        return [
            {
                "path": str(path),
                "status": "error",
                "reason": f"{type(error).__name__}: {error}",
                "score": None,
                "decision": None,
                "threshold": predictor.threshold,
                "model_format": predictor.model_format,
            }
        ]
