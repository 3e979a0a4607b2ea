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
import time
from collections import Counter
from pathlib import Path

from jobs.cli_help import job_parser

log = logging.getLogger("facelake.predict")


def build_parser() -> argparse.ArgumentParser:
    from etl.faces.sharpness import ANDROID_BLUR_GATE
    from etl.train.predict import MODEL_FORMATS

    parser = job_parser(
        "predict",
        __doc__,
        examples=[
            (
                "every photo in a folder, with the P1 model trained on the demo lake",
                "facelake predict --model demo/models/P1 photos/",
            ),
            (
                "a video as the phone app would: the int8 TFLite model, every 3rd frame, the app's blur gate",
                "facelake predict --model demo/models/P1 --format tflite_int8 --every-k 3 --min-sharpness android clip.mov",
            ),
            (
                "only the decisions of a folder of videos (jq reads the summary lines)",
                "facelake predict --model demo/models/P1 demo/siw/Test | jq -c 'select(.summary) | [.path, .decision]'",
            ),
        ],
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="photos (.jpg/.jpeg/.png), videos (.mov/.mp4/.avi) or folders holding them (walked)",
    )
    parser.add_argument(
        "--model",
        required=True,
        type=Path,
        metavar="DIR",
        help="a model folder written by `facelake train` (OUT/P1, ...): metrics.json and the models",
    )
    parser.add_argument(
        "--format",
        default="keras",
        choices=MODEL_FORMATS,
        dest="model_format",
        help="which export of the model scores the faces: keras, float TFLite, or int8 TFLite (the phone's)",
    )
    parser.add_argument(
        "--every-k",
        type=int,
        default=5,
        metavar="K",
        help="videos: score frames 0, K, 2K, ...; the video's decision is on their mean score",
    )
    parser.add_argument(
        "--min-sharpness",
        default="model",
        metavar="COUNT",
        help="blur gate: a face whose sharpness count (pixels with a strong Laplacian response "
        "on the face resized to 256x256) is below COUNT is 'too_blurry' (scored, no "
        "decision). 'model': the gate the model was trained under, else the 1st "
        "percentile of its training faces, so faces as sharp as its training data pass; "
        f"'android': {ANDROID_BLUR_GATE}, the original SiW Android app's gate for its "
        "camera frames; 'off' or 0: no gate",
    )
    parser.add_argument(
        "--detector",
        default="mtcnn",
        metavar="NAME",
        help="face detector, as ingest's: mtcnn (ships with facelake) | insightface:DIR (an "
        "SCRFD/RetinaFace .onnx file in DIR)",
    )
    parser.add_argument(
        "--accept-score",
        type=float,
        default=0.8,
        metavar="P",
        help="faces the detector is less sure of than this (0..1) are ignored",
    )
    parser.add_argument(
        "--min-face-size", type=int, default=40, metavar="PX", help="smallest face to look for, in image pixels"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when any input was unreadable or failed")
    return parser


def _emit(line: dict) -> None:
    # a reader that left (`| head`) raises BrokenPipeError here: run_job ends the job quietly with 0
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def _progress(total: int):
    from tqdm import tqdm

    from jobs import console

    terminal = console.stream()
    return tqdm(
        total=total,
        unit="file",
        desc="predict",
        file=terminal,
        dynamic_ncols=True,
        disable=total < 2 or not terminal.isatty(),
    )


def summary_line(outcomes: Counter, total: int, seconds: float) -> str:
    scored = outcomes["live"] + outcomes["spoof"] + outcomes["too_blurry"]
    return (
        f"scored {scored} of {total} inputs: {outcomes['live']} live, {outcomes['spoof']} spoof, "
        f"{outcomes['too_blurry']} too_blurry; {outcomes['no_face']} no_face, {outcomes['unreadable']} "
        f"unreadable ({seconds:.1f} s)"
    )


def _log_gate(predictor, min_sharpness: int | None) -> None:
    """One line: the gate in force and where it comes from."""
    from etl.faces.sharpness import ANDROID_BLUR_GATE

    if min_sharpness is not None:
        log.info("sharpness gate %d (--min-sharpness)", min_sharpness)
        return
    source = predictor.min_sharpness_source
    what = (
        f"sharpness gate {source}"
        if source.startswith("off")
        else f"sharpness gate {predictor.min_sharpness} ({source})"
    )
    log.info("%s; --min-sharpness android (%d) or a count sets another", what, ANDROID_BLUR_GATE)


def _score_file(path: Path, predictor, every_k: int, options: dict) -> list[dict]:
    from etl.train.predict import media_kind, predict_image, predict_video

    try:
        if media_kind(path) == "video":
            return predict_video(path, predictor, every_k=every_k, **options)
        return predict_image(path, predictor, **options)
    except Exception as error:  # noqa: BLE001 - a per-file failure is a line, never the end of the run
        log.debug("%s failed", path, exc_info=True)
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


def main(argv: list[str] | None = None) -> int:
    from jobs.logs import setup_logging

    setup_logging()
    args = build_parser().parse_args(argv)
    from etl.train.predict import parse_min_sharpness

    try:
        min_sharpness = parse_min_sharpness(args.min_sharpness)
    except ValueError as error:
        log.error("%s", error)
        return 2
    if args.every_k < 1:
        log.error("--every-k must be >= 1, got %d", args.every_k)
        return 2
    from etl.train.model import use_legacy_keras

    use_legacy_keras()  # before anything imports TensorFlow: the models are tf-keras (Keras 2)
    from etl.config import DetectorConfig
    from etl.faces.detect import cached_detector
    from etl.train.predict import ModelFilesError, Predictor, expand_paths, input_outcome

    try:
        detector_config = DetectorConfig(
            backend=args.detector, accept_score=args.accept_score, min_face_size=args.min_face_size
        )
        predictor = Predictor(args.model, model_format=args.model_format)
        detector = cached_detector(detector_config)
    except (ModelFilesError, ValueError) as error:
        log.error("%s", error)
        return 2
    _log_gate(predictor, min_sharpness)
    files = expand_paths(args.paths)
    started = time.perf_counter()
    outcomes: Counter = Counter()
    options = {"detector": detector, "detector_config": detector_config, "min_sharpness": min_sharpness}
    progress = _progress(len(files))
    try:
        for path in files:
            lines = _score_file(path, predictor, args.every_k, options)
            for line in lines:
                _emit(line)
            outcome = input_outcome(lines)
            outcomes[outcome] += 1
            if outcome == "unreadable":
                log.warning("unreadable: %s: %s", path, lines[-1].get("reason") if lines else "no output")
            log.debug("%s: %s", path, outcome)
            progress.update(1)
    finally:
        progress.close()
    summary = summary_line(outcomes, len(files), time.perf_counter() - started)
    scored = len(files) - outcomes["no_face"] - outcomes["unreadable"]
    if scored == 0:
        log.error("%s", summary)
        return 1
    log.info("%s", summary)
    return 1 if args.strict and outcomes["unreadable"] else 0


if __name__ == "__main__":
    from jobs.logs import run_job

    sys.exit(run_job(main, job="predict"))
