"""`facelake embed` / `python -m jobs.embed`: a vector per aligned face into `embeddings`.

Ray actors each load the model once (a GPU each with --gpus-per-worker) and embed
batches of aligned faces read from `frames` or `photos`. Only faces without a current
vector for the model are embedded, and each commit replaces exactly the keys it
carries, so a rerun, or a rerun after a crash, adds nothing twice.
"""

from __future__ import annotations

import argparse
import logging
import sys

from etl.embed.backends import EmbedderConfig
from etl.embed.run import EmbedJobConfig, run_embed
from etl.errors import FacelakeError
from etl.lake.lake import Lake
from jobs.common.cli_help import job_parser
from jobs.common.options import JobOptions, config_from, ray_address
from jobs.common.runner import job_main, log_summary, report_error, run_job
from schemas.vocabulary import EmbeddingSource, values

log = logging.getLogger("facelake.embed")

EXAMPLES = r"""
# face vectors of every registered photo (dlib, ships in a pip package)
facelake embed --lake demo/lake --source photos
# every 10th training frame, with your ArcFace model on a cluster's GPUs
facelake embed --lake demo/lake --source frames --where "split = 'train'" --every-k 10 \
    --model insightface:models/w600k_r50.onnx --gpus-per-worker 0.5 --address ray://head:10001
"""


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The embed options, on a new parser or added to `parser`."""
    parser = parser or job_parser("embed", __doc__, examples=EXAMPLES)
    # two configs: --model and --batch-size set the embedder's (EmbedderConfig), the rest the job's
    option, embedder = JobOptions(parser, EmbedJobConfig(EmbedderConfig())), JobOptions(parser, EmbedderConfig())
    option.lake(creates=False)
    model_help = "dlib (ships in face_recognition_models) | insightface:PATH (ArcFace .onnx or its folder) | "
    embedder("backend", model_help + "keras:FILE (.keras/.h5)", "MODEL", flag="--model")
    option("source", "faces of video frames or of photos", choices=values(EmbeddingSource))
    where_help = "SQL condition on the source table's columns choosing the faces to embed, e.g. \"split = 'train'\""
    option("where", where_help)
    option("every_k", "frames only: embed every k-th frame")
    option("workers", "Ray actors (one model load each)")
    option("gpus_per_worker", "Ray num_gpus per actor")
    embedder("batch_size", "faces per model call")
    option.ray_address()
    return parser


def config_from_args(args: argparse.Namespace) -> EmbedJobConfig:
    return config_from(args, EmbedJobConfig, embedder=config_from(args, EmbedderConfig))


@job_main(build_parser, config_from_args, log=log)
def main(args: argparse.Namespace, config) -> int:
    lake = Lake.open(args.lake)
    try:
        summary = run_embed(lake=lake, config=config, address=ray_address(args))
    except KeyboardInterrupt:
        log.warning("embed interrupted; finished batches are committed, rerun to complete")
        return 130
    except (FacelakeError, ValueError, FileNotFoundError, RuntimeError) as error:  # its exit code, else 2
        return report_error(error, log)
    return log_summary(summary, log)


if __name__ == "__main__":
    sys.exit(run_job(main))
