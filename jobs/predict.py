"""`facelake predict` / `python -m jobs.predict`: score photos and videos with a trained live/spoof model.

One JSON line per face of a photo, per scored frame of a video (every k-th) plus one
summary line per video, on stdout; logs on stderr. A file that cannot be read gets an
`unreadable` line with a reason and the run goes on (exit 1 with --strict). A model
folder without the needed files is refused before any work (exit 2).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

log = logging.getLogger("facelake.predict")


def build_parser() -> argparse.ArgumentParser:
    from etl.predict import MODEL_FORMATS
    from etl.sharpness import ANDROID_BLUR_GATE

    parser = argparse.ArgumentParser(prog="facelake predict", description=__doc__)
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="photos (.jpg/.jpeg/.png), videos (.mov/.mp4/.avi) or folders holding them")
    parser.add_argument("--model", required=True, type=Path, help="a `facelake train` model folder (with metrics.json)")
    parser.add_argument("--format", default="keras", choices=MODEL_FORMATS, dest="model_format",
                        help="which export of the model scores the faces")
    parser.add_argument("--every-k", type=int, default=5, help="videos: score frames 0, k, 2k, ...")
    parser.add_argument("--min-sharpness", type=int, default=ANDROID_BLUR_GATE,
                        help="the notes' Android gate: a face whose sharpness count is below this is 'too blurry, "
                             "retake' (scored, no decision); 0 disables")
    parser.add_argument("--detector", default="mtcnn", help="mtcnn | insightface:DIR")
    parser.add_argument("--accept-score", type=float, default=0.8, help="faces below this detector score are ignored")
    parser.add_argument("--min-face-size", type=int, default=40, help="smallest face in image pixels")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any file was unreadable or failed")
    return parser


def _emit(line: dict) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    from jobs.logs import setup_logging

    setup_logging()
    args = build_parser().parse_args(argv)
    if args.every_k < 1:
        log.error("--every-k must be >= 1, got %d", args.every_k)
        return 2
    if args.min_sharpness < 0:
        log.error("--min-sharpness must be >= 0 (0 disables the gate), got %d", args.min_sharpness)
        return 2
    from etl.spoof_model import use_legacy_keras

    use_legacy_keras()  # before anything imports TensorFlow: the models are tf-keras (Keras 2)
    from etl.config import DetectorConfig
    from etl.detect import cached_detector
    from etl.predict import ModelFilesError, Predictor, expand_paths, media_kind, predict_image, predict_video

    try:
        detector_config = DetectorConfig(backend=args.detector, accept_score=args.accept_score,
                                         min_face_size=args.min_face_size)
        predictor = Predictor(args.model, model_format=args.model_format)
        detector = cached_detector(detector_config)
    except (ModelFilesError, ValueError) as error:
        log.error("%s", error)
        return 2
    files = expand_paths(args.paths)
    started = time.perf_counter()
    statuses: Counter = Counter()
    failed: list[str] = []
    options = {"detector": detector, "detector_config": detector_config, "min_sharpness": args.min_sharpness}
    for done, path in enumerate(files, start=1):
        try:
            if media_kind(path) == "video":
                lines = predict_video(path, predictor, every_k=args.every_k, **options)
            else:
                lines = predict_image(path, predictor, **options)
        except Exception as error:  # a per-file failure is a line, never the end of the run
            log.exception("%s failed", path)
            lines = [{"path": str(path), "status": "error", "reason": f"{type(error).__name__}: {error}",
                      "score": None, "decision": None, "threshold": predictor.threshold,
                      "model_format": predictor.model_format}]
        for line in lines:
            _emit(line)
            statuses[line["status"]] += 1
        if any(line["status"] in ("unreadable", "error") for line in lines):
            failed.append(str(path))
        elapsed = time.perf_counter() - started
        log.info("%d / %d files (%.2f files/s, about %.0f s left): %s", done, len(files), done / elapsed,
                 (len(files) - done) * elapsed / done, path.name)
    log.info("scored %d files with the %s model in %.1f s; lines by status: %s", len(files), predictor.model_format,
             time.perf_counter() - started, dict(sorted(statuses.items())) or "none")
    for path in failed:
        log.warning("unreadable or failed: %s", path)
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    from jobs.logs import run_job

    sys.exit(run_job(main))
