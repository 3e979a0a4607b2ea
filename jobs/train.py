"""`facelake train` / `python -m jobs.train`: the live/spoof classifier, trained with Ray Train.

For each SiW protocol fold: read the small columns of `frames` at one pinned table
version (recorded), split by protocol (validation split off the training subjects),
let Ray Data read the faces of each part from that version's files, train with
`TensorflowTrainer` (MultiWorkerMirroredStrategy) keeping the best `val_loss`
checkpoint, then evaluate with Ray Data actors that return only scores (threshold on
validation, metrics on test at frame and video level), export Keras / SavedModel /
TFLite float and int8 in a Ray task, and write the metrics, history, plots and model
card into OUT/<protocol>/ and a `train_runs` row. The driver never holds image bytes
(etl/train/data.py).

The terminal shows one line per epoch (loss, accuracy, val_loss, val_accuracy, learning
rate, seconds) and each fold's test metrics; stdout gets the table of every fold's
results. Exit status: 0 done; 2 for bad options, a path without a lake, or a lake
without frames; 1 when training fails (the log file named at the end has the details).
"""

from __future__ import annotations

# tf-keras must be chosen before TensorFlow is imported anywhere in this process
from etl.train.model import use_legacy_keras

use_legacy_keras()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import pyarrow as pa  # noqa: E402

from etl.config import LR_SCHEDULES, TrainConfig  # noqa: E402
from etl.lake.catalog import refresh_catalog_if_local  # noqa: E402
from etl.lake.lake import Lake, sql_string  # noqa: E402
from etl.lake.runs import RunRecord  # noqa: E402
from etl.ray_runtime import init_ray  # noqa: E402
from etl.train.data import (
    evenly_spaced,
    faces_dataset,
    read_frame_index,
    score_part,
    training_dataset,  # noqa: E402
    with_target,
)
from etl.train.protocols import Protocol, parse_protocols, split_protocol  # noqa: E402
from jobs.cli_help import add_lake_option, job_parser  # noqa: E402
from schemas import RUNS, TRAIN_RUNS  # noqa: E402

log = logging.getLogger("facelake.train")


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or job_parser(
        "train",
        __doc__,
        examples=[
            (
                "protocol P1 on the demo lake, a short run on a laptop",
                "facelake train --lake demo/lake --out demo/models --epochs 10 --batch-size 32 --input-size 96",
            ),
            (
                "every protocol fold (P1, P2.1-4, P3.1-2), each into its own folder under OUT",
                "facelake train --lake demo/lake --out models --protocol all",
            ),
            (
                "continue an interrupted or finished run for more epochs, from its last checkpoint",
                "facelake train --lake demo/lake --out demo/models --epochs 20 --resume",
            ),
            (
                "train only on faces at least as sharp as the Android app's gate, 4 GPU workers on a cluster",
                "facelake train --lake s3://bucket/lake --out models --min-sharpness 1000 --workers 4 --use-gpu "
                "--address ray://head:10001",
            ),
        ],
    )
    add_lake_option(parser, creates=False)
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="folder for the models: one sub-folder per protocol fold (P1, P2.1, ...) holding the "
        "Keras, SavedModel and TFLite exports, metrics.json, history.json, plots and the model "
        "card; created after the lake is checked",
    )
    parser.add_argument(
        "--protocol",
        default="p1",
        help="SiW protocol folds to train, comma-separated: p1 (all attack types), p2:K (replay, "
        "leave out medium K = 1..4), p3:K (cross attack type: 1 = print to replay, 2 = replay "
        "to print), p2 or p3 (all their folds), all (every fold)",
    )
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (fewer if early stopping ends the run)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=160,
        help="global batch: faces per step over all workers (the original SiW scripts used 160)",
    )
    parser.add_argument(
        "--input-size",
        type=int,
        default=48,
        metavar="PX",
        help="side of the model's square RGB input, in pixels, 32..512 (the original SiW scripts used 48)",
    )
    parser.add_argument(
        "--backbone",
        default="MobileNet",
        help="any keras.applications model name (MobileNetV2, ResNet50, ...), randomly initialised: "
        "nothing is downloaded",
    )
    parser.add_argument("--learning-rate", type=float, default=1e-3, metavar="LR", help="Adam's initial learning rate")
    parser.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        default="plateau",
        help="plateau: learning rate x0.1 after 5 epochs without a better val_loss; cosine: cosine "
        "decay to 0 over the epochs after a linear warm-up",
    )
    parser.add_argument("--warmup-epochs", type=int, default=1, help="cosine schedule: epochs of linear warm-up")
    parser.add_argument(
        "--patience", type=int, default=10, help="stop early after this many epochs without a better val_loss"
    )
    parser.add_argument(
        "--label-smoothing", type=float, default=0.1, help="cross-entropy label smoothing, 0..0.5 (0 = off)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="Ray Train workers (processes training one model together, each on its share of the faces)",
    )
    parser.add_argument("--use-gpu", action="store_true", help="give each Ray Train worker one GPU")
    parser.add_argument(
        "--min-sharpness",
        type=int,
        default=None,
        metavar="COUNT",
        help="train only on faces whose sharpness count (pixels with a strong Laplacian response on "
        "the face resized to 256x256; the frames table's sharpness_count) is at least COUNT; "
        "1000 is the original SiW Android app's gate. Recorded with the model as "
        "`facelake predict`'s default gate (default: every face)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds the validation subjects' choice, the row order, the weights and augmentation",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the runs under the same --out from their last checkpoint (raise --epochs to train longer)",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="Ray cluster address, e.g. ray://head:10001 (default: RAY_ADDRESS, else a local Ray)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    parse_protocols(args.protocol)  # a ValueError naming the bad entry, before any work
    return TrainConfig(
        protocols=args.protocol,
        epochs=args.epochs,
        batch_size=args.batch_size,
        input_size=args.input_size,
        backbone=args.backbone,
        learning_rate=args.learning_rate,
        lr_schedule=args.lr_schedule,
        warmup_epochs=args.warmup_epochs,
        patience=args.patience,
        label_smoothing=args.label_smoothing,
        workers=args.workers,
        use_gpu=args.use_gpu,
        min_sharpness=args.min_sharpness,
        seed=args.seed,
        resume=args.resume,
    )


def run_train(
    *, lake: Lake, out: Path, config: TrainConfig, address: str | None = None, run_id: str | None = None
) -> list[dict]:
    protocols = parse_protocols(config.protocols)
    record = RunRecord(
        lake, job="train", source=lake.root, args={"config": asdict(config), "out": str(out)}, run_id=run_id
    )
    for spec in (TRAIN_RUNS, RUNS):
        lake.ensure(spec)
    record.start()
    results: list[dict] = []
    try:
        frames, version = read_frame_index(lake, min_sharpness=config.min_sharpness)
        log.info("frames version %d: %d ok faces", version, frames.num_rows)
        # Ray Data needs CPU slots beside the training workers to feed them (logical CPUs)
        ray = init_ray(address=address, num_cpus=config.workers + 2)
        _quiet_ray_data(ray)
        _name_worker_logs()
        for protocol in protocols:
            results.append(_train_protocol(ray, lake, frames, version, protocol, config, out, record.run_id))
    except BaseException as error:
        record.finish(
            status="interrupted" if isinstance(error, KeyboardInterrupt) else "failed",
            counts={"protocols": results},
            error=repr(error),
        )
        raise
    record.finish(status="succeeded", counts={"protocols": results})
    (out / "metrics.md").write_text(_summary_table(results))
    refresh_catalog_if_local(lake)
    return results


def _quiet_ray_data(ray) -> None:
    """No Ray Data progress bars unless --verbose (datasets carry the driver's context to Ray Train)."""
    from jobs.logs import verbose

    if not verbose():
        ray.data.DataContext.get_current().enable_progress_bars = False


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
    ray, lake: Lake, frames: pa.Table, version: int, protocol: Protocol, config: TrainConfig, out: Path, run_id: str
) -> dict:
    from ray.train import CheckpointConfig, DataConfig, RunConfig, ScalingConfig
    from ray.train.tensorflow import TensorflowTrainer

    from etl.train.loop import TrainingMessages, train_loop_per_worker

    started = time.perf_counter()
    split = split_protocol(frames, protocol, validation_fraction=config.validation_fraction, seed=config.seed)
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
    return _finish(
        lake, split, evaluation, files, exported, best_metrics, version, protocol, config, folder, run_id, started
    )


def _evaluate_and_export(
    ray, lake: Lake, version: int, split, train: pa.Table, model_path: str, config: TrainConfig, folder: Path
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


def _finish(
    lake, split, evaluation, files, exported, best_metrics, version, protocol, config, folder: Path, run_id, started
) -> dict:
    from etl.train.evaluate import write_model_card
    from etl.train.export import sharpness_profile
    from etl.train.forecast import fit_exponential
    from etl.train.plots import plot_roc_det, plot_training

    log.info(
        "%s: TFLite vs Keras on %d test faces: float max |diff| %.2g, int8 decisions agree on %.1f %%",
        protocol.label,
        exported["faces"],
        exported.get("tflite_max_abs_diff", 0.0),
        100 * exported.get("int8_decision_agreement", 1.0),
    )
    history = json.loads((folder / "history.json").read_text()) if (folder / "history.json").is_file() else {}
    forecast = None
    try:
        forecast = fit_exponential(history.get("loss", []))
    except (ValueError, RuntimeError) as error:
        log.debug("%s: no loss forecast (%s)", protocol.label, error)
    plot_training(history, folder / "training.png", forecast)
    plot_roc_det(
        {"validation (frame)": evaluation.validation_frame, "test (frame)": evaluation.test_frame},
        folder / "roc_det.png",
    )
    files.update(
        history="history.json",
        metrics="metrics.json",
        training_plot="training.png",
        roc_det_plot="roc_det.png",
        model_card="model_card.md",
    )
    counts = split.counts()
    sharpness = sharpness_profile(split.train.column("sharpness_count").to_pylist(), config.min_sharpness)
    epochs_run = len(history.get("loss", [])) or int(best_metrics.get("epoch", 0)) + 1
    metrics = {
        "protocol": protocol.label,
        "frames_version": version,
        **evaluation.to_dict(),
        "best_epoch": int(best_metrics["epoch"]),
        "best_val_loss": float(best_metrics["val_loss"]),
        "validation_subjects": list(split.validation_subjects),
        "loss_forecast": None
        if forecast is None
        else {"a": forecast.a, "b": forecast.b, "c": forecast.c, "rmse": forecast.rmse},
        "input_size": config.input_size,
        "backbone": config.backbone,
        "export_check": exported,
        "sharpness": sharpness,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True, default=float))
    write_model_card(
        folder / "model_card.md",
        protocol=protocol.label,
        frames_version=version,
        config=asdict(config),
        counts=counts,
        evaluation=evaluation,
        best_epoch=int(best_metrics["epoch"]),
        epochs_run=epochs_run,
        files=files,
        export=exported,
        sharpness=sharpness,
    )
    row = {
        "train_id": f"{run_id}/{protocol.label}",
        "run_id": run_id,
        "protocol": protocol.label,
        "frames_version": version,
        "backbone": config.backbone,
        "input_size": config.input_size,
        "epochs_run": epochs_run,
        "best_epoch": int(best_metrics["epoch"]),
        "best_val_loss": float(best_metrics["val_loss"]),
        "threshold": evaluation.threshold,
        "frame_acer": evaluation.frame.acer,
        "video_acer": evaluation.video.acer,
        "frame_auc": evaluation.frame.auc,
        "frame_eer": evaluation.frame.eer,
        "counts_json": json.dumps(counts, sort_keys=True, default=str),
        "metrics_json": json.dumps(metrics, sort_keys=True, default=float),
        "model_dir": str(folder.resolve()),
        "created_at": datetime.now(timezone.utc),
    }
    lake.replace_where(
        TRAIN_RUNS,
        pa.Table.from_pylist([row], schema=TRAIN_RUNS.schema),
        predicate=f"train_id = {sql_string(row['train_id'])}",
    )
    log.info(
        "%s: threshold %.4f; test frame ACER %.2f %%, video ACER %.2f %%, AUC %.4f (%.0f s)",
        protocol.label,
        evaluation.threshold,
        evaluation.frame.acer * 100,
        evaluation.video.acer * 100,
        evaluation.frame.auc,
        time.perf_counter() - started,
    )
    return {
        "protocol": protocol.label,
        "folder": str(folder),
        "frame_acer": evaluation.frame.acer,
        "video_acer": evaluation.video.acer,
        "frame_auc": evaluation.frame.auc,
        "threshold": evaluation.threshold,
    }


def _summary_table(results: list[dict]) -> str:
    lines = ["| protocol | frame ACER % | video ACER % | frame AUC | threshold |", "|---|---|---|---|---|"]
    lines += [
        f"| {r['protocol']} | {r['frame_acer'] * 100:.2f} | {r['video_acer'] * 100:.2f} | {r['frame_auc']:.4f} | "
        f"{r['threshold']:.4f} |"
        for r in results
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from jobs.logs import start_job

    started = start_job(build_parser(), config_from_args, argv, log=log)
    if started is None:
        return 2
    args, config = started
    lake = Lake.open(args.lake)  # no lake there: LakeNotFoundError (exit 2) before --out is created
    try:
        results = run_train(
            lake=lake, out=args.out, config=config, address=args.address or os.environ.get("RAY_ADDRESS")
        )
    except ValueError as error:
        log.error("%s", error)
        return 2
    sys.stdout.write(_summary_table(results))
    return 0


if __name__ == "__main__":
    from jobs.logs import run_job

    sys.exit(run_job(main, job="train"))
