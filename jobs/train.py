"""`facelake train` / `python -m jobs.train`: the live/spoof classifier, trained with Ray Train.

For each SiW protocol fold: read the small columns of `frames` at one pinned table
version (recorded), split by protocol (validation split off the training subjects),
let Ray Data read the faces of each part from that version's files, train with
`TensorflowTrainer` (MultiWorkerMirroredStrategy) keeping the best `val_loss`
checkpoint, then evaluate with Ray Data actors that return only scores (frame and video
thresholds on validation, metrics on test at frame and video level), export Keras /
SavedModel / TFLite float and int8 in a Ray task, and write the metrics, history, plots
and model card into OUT/<protocol>/ and a `train_runs` row. The driver never holds image
bytes (etl/train/data.py).

The terminal shows one line per epoch (loss, accuracy, val_loss, val_accuracy, learning
rate, seconds) and each fold's test metrics; stdout gets the table of every fold's
results (ACER at the validation thresholds, the test EER to compare with published SiW
tables) with mean ± std rows for P2 and P3, also in OUT/metrics.md and OUT/summary.json.
Exit status: 0 done; 2 for bad options, a path without a lake, or a lake without frames;
1 when training fails (the log file named at the end has the details).
"""

from __future__ import annotations

# first: `etl.train.run` chooses tf-keras before anything imports TensorFlow
from etl.train.run import run_train, summary_table  # isort: skip

import argparse
import logging
import sys
from pathlib import Path

from etl.config import LR_SCHEDULES, P1_VALIDATION_FRAMES, TrainConfig
from etl.lake.lake import Lake
from etl.train.protocols import parse_protocols
from jobs.common.cli_help import job_parser
from jobs.common.logs import verbose
from jobs.common.options import JobOptions, config_from, ray_address
from jobs.common.runner import job_main, report_error, run_job

log = logging.getLogger("facelake.train")

EXAMPLES = r"""
# protocol P1 on the demo lake, a short run on a laptop
facelake train --lake demo/lake --out demo/models --epochs 10 --batch-size 32 --input-size 96
# every protocol fold (P1, P2.1-4, P3.1-2), each into its own folder under OUT
facelake train --lake demo/lake --out models --protocol all
# continue an interrupted or finished run for more epochs, from its last checkpoint
facelake train --lake demo/lake --out demo/models --epochs 20 --resume
# train only on faces at least as sharp as the Android app's gate, 4 GPU workers on a cluster
facelake train --lake s3://bucket/lake --out models --min-sharpness 1000 --workers 4 --use-gpu \
    --address ray://head:10001
"""


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The train options, on a new parser or added to `parser`."""
    parser = parser or job_parser("train", __doc__, examples=EXAMPLES)
    option = JobOptions(parser, TrainConfig())
    option.lake(creates=False)
    out_help = "folder for the models: one sub-folder per protocol fold (P1, P2.1, ...) holding the Keras, "
    out_help += "SavedModel and TFLite exports, metrics.json, history.json, plots and the model card; created after "
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help=out_help + "the lake is checked")
    folds = "SiW protocol folds to train, comma-separated: p1 (all attack types), p2:K (replay, leave out medium "
    folds += "K = 1..4), p3:K (cross attack type: 1 = print to replay, 2 = replay to print), p2 or p3 (all their "
    option("protocols", folds + "folds), all (every fold)", "PROTOCOL", flag="--protocol")
    option("epochs", "training epochs (fewer if early stopping ends the run)")
    option("batch_size", "global batch: faces per step over all workers (the original SiW scripts used 160)")
    input_help = "side of the model's square RGB input, in pixels, 32..512 (the original SiW scripts used 48)"
    option("input_size", input_help, "PX")
    backbone_help = "any keras.applications model name (MobileNetV2, ResNet50, ...), randomly initialised: nothing is "
    option("backbone", backbone_help + "downloaded")
    option("learning_rate", "Adam's initial learning rate", "LR")
    schedule_help = "plateau: learning rate x0.1 after 5 epochs without a better val_loss; cosine: cosine decay to 0 "
    option("lr_schedule", schedule_help + "over the epochs after a linear warm-up", choices=LR_SCHEDULES)
    option("warmup_epochs", "cosine schedule: epochs of linear warm-up")
    option("patience", "stop early after this many epochs without a better val_loss")
    option("label_smoothing", "cross-entropy label smoothing, 0..0.5 (0 = off)")
    option("workers", "Ray Train workers (processes training one model together, each on its share of the faces)")
    option("use_gpu", "give each Ray Train worker one GPU")
    gate = "train only on faces whose sharpness count (pixels with a strong Laplacian response on the face resized to "
    gate += "256x256; the frames table's sharpness_count) is at least COUNT; 1000 is the original SiW Android app's "
    gate += "gate. Recorded with the model as `facelake predict`'s default gate (default: every face)"
    option("min_sharpness", gate, "COUNT", type=int)
    p1_help = "P1's validation subjects: validate on the first 60 frames of their videos, as P1 trains (subset), "
    p1_help += "or on every frame of their videos, as the dev set of Idiap's bob.db.siw (all)"
    option("p1_validation_frames", p1_help, choices=P1_VALIDATION_FRAMES)
    option("seed", "seeds the validation subjects' choice, the row order, the weights and augmentation")
    resume_help = "continue the runs under the same --out from their last checkpoint (raise --epochs to train longer)"
    option("resume", resume_help)
    option.ray_address()
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    parse_protocols(args.protocols)  # a ValueError naming the bad entry, before any work
    return config_from(args, TrainConfig)


@job_main(build_parser, config_from_args, log=log)
def main(args: argparse.Namespace, config) -> int:
    lake = Lake.open(args.lake)  # no lake there: LakeNotFoundError (exit 2) before --out is created
    try:
        results = run_train(
            lake=lake, out=args.out, config=config, address=ray_address(args), ray_progress_bars=verbose()
        )
    except ValueError as error:  # UsageError (a FacelakeError) or a plain refusal from below: exit 2
        return report_error(error, log)
    sys.stdout.write(summary_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(run_job(main, job="train"))
