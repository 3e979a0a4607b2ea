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

# Only this: parse the arguments, build the TrainConfig, call `etl.train.run.run_train`, print
# its table and map the outcome to an exit code (the layer rule, docs/architecture.md).

from __future__ import annotations

# first: `etl.train.run` chooses tf-keras before anything imports TensorFlow
from etl.train.run import run_train, summary_table  # isort: skip

import argparse
import logging
import os
import sys
from pathlib import Path

from etl.config import TrainConfig
from etl.lake.lake import Lake
from etl.train.protocols import parse_protocols
from jobs.cli_help import add_lake_option, job_parser
from jobs.logs import job_main, report_error, verbose
from schemas.vocabulary import LrSchedule, values

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
        choices=values(LrSchedule),
        default=LrSchedule.PLATEAU,
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


@job_main(build_parser, config_from_args, log=log)
def main(args: argparse.Namespace, config) -> int:
    lake = Lake.open(args.lake)  # no lake there: LakeNotFoundError (exit 2) before --out is created
    try:
        results = run_train(
            lake=lake,
            out=args.out,
            config=config,
            address=args.address or os.environ.get("RAY_ADDRESS"),
            ray_progress_bars=verbose(),
        )
    except ValueError as error:  # UsageError (a FacelakeError) or a plain refusal from below: exit 2
        return report_error(error, log)
    sys.stdout.write(summary_table(results))
    return 0


if __name__ == "__main__":
    from jobs.logs import run_job

    sys.exit(run_job(main, job="train"))
