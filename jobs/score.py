"""`facelake score` / `python -m jobs.score`: a trained model's score of every ok face into `scores`.

Each face gets P(spoof), the decision at the model's threshold and the protocol part it was in
for that model (train, validation, test, or unseen), so the model's errors can be sliced by
sensor, medium, session, subject and attack type on the faces it never learned from (the
`error_slices`, `confident_errors`, `video_score_spread`, `calibration` and `mistaken_labels`
queries). Ray Data actors each load the model once (a GPU each with --gpus-per-worker). Only
faces without a current score from the model are scored: a rerun adds nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from etl.errors import FacelakeError
from etl.lake.lake import Lake
from etl.score.run import ScoreConfig, run_score
from etl.train.predict import MODEL_FORMATS
from jobs.common.cli_help import job_parser
from jobs.common.options import JobOptions, config_from, ray_address
from jobs.common.runner import job_main, log_summary, report_error, run_job

log = logging.getLogger("facelake.score")

EXAMPLES = r"""
# every ok face of the demo lake, scored by the P1 model trained on it
facelake score --lake demo/lake --model demo/models/P1
# the test split only, with the phone's int8 export, then its errors per medium
facelake score --lake demo/lake --model demo/models/P1 --format tflite_int8 --where "split = 'test'"
facelake audit --lake demo/lake --only error_slices
"""


def build_parser() -> argparse.ArgumentParser:
    parser = job_parser("score", __doc__, examples=EXAMPLES)
    option = JobOptions(parser, ScoreConfig)  # the class: its fields' defaults (--model has none)
    option.lake(creates=False)
    model_help = "a model folder written by `facelake train` on this lake (OUT/P1, ...): metrics.json and the models"
    parser.add_argument("--model", required=True, type=Path, metavar="DIR", help=model_help)
    export_help = "which export of the model scores the faces: keras, float TFLite, or int8 TFLite (the phone's)"
    option("model_format", export_help, flag="--format", choices=MODEL_FORMATS)
    option("where", "SQL condition on frames' columns choosing the faces to score, e.g. \"split = 'test'\"")
    option("workers", "Ray Data actors (one model load each)")
    option("gpus_per_worker", "Ray num_gpus per actor")
    option("batch_size", "faces per model call")
    option.ray_address()
    return parser


def config_from_args(args: argparse.Namespace) -> ScoreConfig:
    return config_from(args, ScoreConfig, model=args.model)


@job_main(build_parser, config_from_args, log=log)
def main(args: argparse.Namespace, config) -> int:
    lake = Lake.open(args.lake)
    try:
        summary = run_score(lake=lake, config=config, address=ray_address(args))
    except KeyboardInterrupt:
        log.warning("score interrupted; finished batches are committed, rerun to complete")
        return 130
    except (FacelakeError, ValueError, FileNotFoundError, RuntimeError) as error:  # its exit code, else 2
        return report_error(error, log)
    return log_summary(summary, log)


if __name__ == "__main__":
    sys.exit(run_job(main))
