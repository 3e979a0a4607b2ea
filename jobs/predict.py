"""`facelake predict` / `python -m jobs.predict`: score photos and videos with a trained live/spoof model.

Each face is detected, aligned, checked for sharpness and scored: P(spoof), and the
decision `spoof` when it is at least the model's threshold, else `live`. Output is one
JSON line per face of a photo, per scored frame of a video (every k-th) plus one summary
line per video, on stdout; the terminal gets one summary line at the end. A file that
cannot be read gets an `unreadable` line with a reason and the run goes on.

Exit status: 0 when at least one input was scored; 1 when none was (every input
unreadable, without a face, or no photo or video given), or with --strict when any
input was unreadable; 2 for bad options or a model folder without the files it needs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.common import console
from jobs.common.cli_help import job_parser
from jobs.common.options import JobOptions, config_from, detector_from
from jobs.common.runner import job_main, report_error, run_job

if TYPE_CHECKING:
    from etl.train.predict import PredictConfig

log = logging.getLogger("facelake.predict")

EXAMPLES = """
# every photo in a folder, with the P1 model trained on the demo lake
facelake predict --model demo/models/P1 photos/
# a video as the phone app would: the int8 TFLite model, every 3rd frame, the app's blur gate
facelake predict --model demo/models/P1 --format tflite_int8 --every-k 3 --min-sharpness android clip.mov
# only the decisions of a folder of videos (jq reads the summary lines)
facelake predict --model demo/models/P1 demo/siw/Test | jq -c 'select(.summary) | [.path, .decision]'
"""


def build_parser() -> argparse.ArgumentParser:
    from etl.faces.sharpness import ANDROID_BLUR_GATE
    from etl.train.predict import MODEL_FORMATS, PredictConfig

    parser = job_parser("predict", __doc__, examples=EXAMPLES)
    paths_help = "photos (.jpg/.jpeg/.png), videos (.mov/.mp4/.avi) or folders holding them (walked)"
    parser.add_argument("paths", nargs="+", metavar="PATH", help=paths_help)
    model_help = "a model folder written by `facelake train` (OUT/P1, ...): metrics.json and the models"
    parser.add_argument("--model", required=True, type=Path, metavar="DIR", help=model_help)
    option = JobOptions(parser, PredictConfig)  # the class: its fields' defaults (--model has none)
    export_help = "which export of the model scores the faces: keras, float TFLite, or int8 TFLite (the phone's)"
    option("model_format", export_help, flag="--format", choices=MODEL_FORMATS)
    option("every_k", "videos: score frames 0, K, 2K, ...; the video's decision is on their mean score", "K")
    gate = (
        "blur gate: a face whose sharpness count (pixels with a strong Laplacian response on the face resized to "
        "256x256) is below COUNT is 'too_blurry' (scored, no decision). 'model': the gate the model was trained "
        "under, else the 1st percentile of its training faces, so faces as sharp as its training data pass; "
        f"'android': {ANDROID_BLUR_GATE}, the original SiW Android app's gate for its camera frames; 'off' or 0: "
        "no gate"
    )
    # a word or a count, read by parse_min_sharpness ("model" is the config's None)
    option("min_sharpness", gate, "COUNT", default="model")
    option.detector(unit="image", accept_help="faces the detector is less sure of than this (0..1) are ignored")
    option.run_flags(strict_when="any input was unreadable or failed", progress=False)
    return parser


def config_from_args(args: argparse.Namespace) -> PredictConfig:
    from etl.errors import require
    from etl.train.predict import PredictConfig, parse_min_sharpness

    min_sharpness = parse_min_sharpness(args.min_sharpness)
    require(args.every_k >= 1, f"must be >= 1, got {args.every_k}", option="every_k")
    return config_from(args, PredictConfig, min_sharpness=min_sharpness, detector=detector_from(args))


def _emit(line: dict) -> None:
    # a reader that left (`| head`) raises BrokenPipeError here: run_job ends the job quietly with 0
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def _progress(total: int):
    from tqdm import tqdm

    terminal = console.stream()
    quiet = total < 2 or not terminal.isatty()
    return tqdm(total=total, unit="file", desc="predict", file=terminal, dynamic_ncols=True, disable=quiet)


@job_main(build_parser, config_from_args, log=log)
def main(args: argparse.Namespace, config) -> int:
    from etl.train.run import run_predict  # chooses tf-keras before anything imports TensorFlow

    try:
        summary = run_predict(config, args.paths, emit=_emit, progress=_progress)
    except ValueError as error:  # UsageError (a FacelakeError) or a plain refusal from below: exit 2
        return report_error(error, log)
    if summary.scored == 0:
        log.error("%s", summary.line())
        return 1
    log.info("%s", summary.line())
    return 1 if args.strict and summary.outcomes["unreadable"] else 0


if __name__ == "__main__":
    sys.exit(run_job(main, job="predict"))
