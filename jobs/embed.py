"""`facelake embed` / `python -m jobs.embed`: a vector per aligned face into `embeddings`.

Ray actors each load the model once (a GPU each with --gpus-per-worker) and embed
batches of aligned faces read from `frames` or `photos`. Only faces without a current
vector for the model are embedded, and each commit replaces exactly the keys it
carries, so a rerun, or a rerun after a crash, adds nothing twice.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from etl.embed.backends import EmbedderConfig
from etl.embed.run import EmbedJobConfig, run_embed
from etl.errors import FacelakeError
from etl.lake.lake import Lake
from jobs.cli_help import add_lake_option, job_parser
from jobs.logs import job_main, log_summary, report_error
from schemas.vocabulary import EmbeddingSource, values

log = logging.getLogger("facelake.embed")


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or job_parser(
        "embed",
        __doc__,
        examples=[
            (
                "face vectors of every registered photo (dlib, ships in a pip package)",
                "facelake embed --lake demo/lake --source photos",
            ),
            (
                "every 10th training frame, with your ArcFace model on a cluster's GPUs",
                "facelake embed --lake demo/lake --source frames --where \"split = 'train'\" --every-k 10 \\\n"
                "      --model insightface:models/w600k_r50.onnx --gpus-per-worker 0.5 --address ray://head:10001",
            ),
        ],
    )
    add_lake_option(parser, creates=False)
    parser.add_argument(
        "--model",
        default="dlib",
        help="dlib (ships in face_recognition_models) | insightface:PATH (ArcFace .onnx or its "
        "folder) | keras:FILE (.keras/.h5)",
    )
    parser.add_argument(
        "--source", default="frames", choices=values(EmbeddingSource), help="faces of video frames or of photos"
    )
    parser.add_argument(
        "--where",
        default=None,
        help="SQL condition on the source table's columns choosing the faces to embed, e.g. \"split = 'train'\"",
    )
    parser.add_argument("--every-k", type=int, default=1, help="frames only: embed every k-th frame")
    parser.add_argument("--workers", type=int, default=2, help="Ray actors (one model load each)")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0, help="Ray num_gpus per actor")
    parser.add_argument("--batch-size", type=int, default=64, help="faces per model call")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")
    return parser


def config_from_args(args: argparse.Namespace) -> EmbedJobConfig:
    return EmbedJobConfig(
        embedder=EmbedderConfig(backend=args.model, batch_size=args.batch_size),
        source=args.source,
        where=args.where,
        every_k=args.every_k,
        workers=args.workers,
        gpus_per_worker=args.gpus_per_worker,
    )


@job_main(build_parser, config_from_args, log=log)
def main(args: argparse.Namespace, config) -> int:
    lake = Lake.open(args.lake)
    try:
        summary = run_embed(lake=lake, config=config, address=args.address or os.environ.get("RAY_ADDRESS"))
    except KeyboardInterrupt:
        log.warning("embed interrupted; finished batches are committed, rerun to complete")
        return 130
    except (FacelakeError, ValueError, FileNotFoundError, RuntimeError) as error:  # its exit code, else 2
        return report_error(error, log)
    return log_summary(summary, log)


if __name__ == "__main__":
    from jobs.logs import run_job

    sys.exit(run_job(main))
