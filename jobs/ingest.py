"""`facelake ingest` / `python -m jobs.ingest`: a SiW tree into the lake's `videos` and `frames`.

One Ray task per video; the driver commits finished videos in small batches through
`etl.ingest_store` and shows progress. Everything else lives in `etl/`.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from etl.catalog import refresh_catalog_if_local
from etl.config import CROP_FORMATS, DetectorConfig, IngestConfig
from etl.ingest_plan import plan_ingest
from etl.ingest_store import commit_videos, set_source_present
from etl.ingest_summary import IngestSummary
from etl.lake import Lake
from etl.process_video import VideoResult, video_row
from etl.progress import FrameProgress
from etl.runs import RunRecord
from etl.scan import VideoSource, scan_source
from schemas import FRAMES, RUNS, VIDEOS
from jobs.ray_runtime import init_ray

log = logging.getLogger("facelake.ingest")


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="facelake ingest", description=__doc__)
    parser.add_argument("--source", required=True, help="root of the SiW tree (holding Train/ and Test/)")
    parser.add_argument("--lake", required=True, help="lake root: a folder (created if missing) or s3://bucket/prefix (storage options from AWS_* and FACELAKE_STORAGE_OPTIONS)")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--workers", type=int, default=2, help="videos processed at once (Ray tasks in flight)")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0, help="Ray num_gpus per video task")
    parser.add_argument("--frame-stride", type=int, default=1, help="keep every N-th frame")
    parser.add_argument("--crops", choices=CROP_FORMATS, default="none", help="also store the .face-box crop")
    parser.add_argument("--full", action="store_true", help="reprocess every video, even unchanged ones")
    parser.add_argument("--commit-every", type=int, default=4, help="videos per Delta commit")
    parser.add_argument("--task-memory-mb", type=int, default=IngestConfig.task_memory_mb,
                        help="stop a video whose processing grows its worker's memory by more than this (0: no limit); "
                             "it gets an error row and is retried by the next run")
    parser.add_argument("--detector", default="mtcnn", help="mtcnn | insightface:DIR (an SCRFD/RetinaFace .onnx in DIR)")
    parser.add_argument("--stage-thresholds", type=float, nargs=3, default=(0.6, 0.7, 0.7), metavar=("PNET", "RNET", "ONET"))
    parser.add_argument("--min-face-size", type=int, default=40, help="smallest face in frame pixels")
    parser.add_argument("--accept-score", type=float, default=0.8, help="best face below this is 'low_score'")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--strict", action="store_true", help="exit non-zero when any video failed")
    parser.add_argument("--watch", action="store_true",
                        help="keep ingesting what is new every --interval seconds until SIGTERM/SIGINT")
    parser.add_argument("--interval", type=float, default=300.0, help="seconds between the end of a --watch run and the next")
    return parser


def config_from_args(args: argparse.Namespace) -> IngestConfig:
    detector = DetectorConfig(
        backend=args.detector,
        stage_thresholds=tuple(args.stage_thresholds),
        min_face_size=args.min_face_size,
        accept_score=args.accept_score,
    )
    return IngestConfig(
        detector=detector,
        crops=args.crops,
        frame_stride=args.frame_stride,
        workers=args.workers,
        gpus_per_worker=args.gpus_per_worker,
        full=args.full,
        commit_every=args.commit_every,
        task_memory_mb=args.task_memory_mb,
    )


def _process_remote(video: VideoSource, config: IngestConfig, run_id: str) -> VideoResult:
    """Body of the Ray task: per-video failures become an `error` row, never an exception."""
    import traceback

    from etl.detect import cached_detector
    from etl.process_video import process_video

    started = time.perf_counter()
    try:
        return process_video(video, config, cached_detector(config.detector), run_id=run_id)
    except Exception as error:  # noqa: BLE001 - recorded on the video's row with its reason
        logging.getLogger("facelake.ingest").error("video %s failed: %s", video.video_id, traceback.format_exc())
        row = video_row(video, status="error", reason=f"{type(error).__name__}: {error}", run_id=run_id, config_hash=config.processing_hash())
        return VideoResult(video.video_id, FRAMES.schema.empty_table(), row, time.perf_counter() - started)


def _estimated_frames(video: VideoSource, stride: int) -> int:
    lines = video.annotations.n_lines if video.annotations else 0
    return max(1, -(-lines // stride)) if lines else 1


def run_ingest(*, source: str, lake: Lake, config: IngestConfig, address: str | None = None,
               progress: bool = True, run_id: str | None = None) -> IngestSummary:
    started = time.perf_counter()
    scan = scan_source(source)
    record = RunRecord(lake, job="ingest", source=scan.source_root, args={"config": asdict(config), "address": address}, run_id=run_id)
    for spec in (VIDEOS, FRAMES, RUNS):
        lake.ensure(spec)
    record.start()
    summary = IngestSummary(run_id=record.run_id, videos_found=len(scan.videos), orphan_face_files=len(scan.orphan_face_files),
                            ignored_files=scan.ignored_files)
    plan = plan_ingest(scan, lake.read(VIDEOS), full=config.full, config_hash=config.processing_hash())
    summary.videos_unchanged = plan.unchanged
    summary.videos_gone = len(plan.gone_ids)
    log.info("scan of %s: %d videos; %d to process, %d status-only, %d unchanged, %d gone",
             scan.source_root, len(scan.videos), len(plan.to_process), len(plan.status_only), plan.unchanged, len(plan.gone_ids))
    if plan.other_settings:
        log.warning("%d unchanged videos were processed with other settings; use --full to reprocess them", plan.other_settings)
    try:
        _commit_status_rows(lake, plan, record.run_id, config, summary)
        if plan.to_process:
            _run_tasks(plan.to_process, lake=lake, config=config, address=address, run_id=record.run_id, summary=summary, progress=progress)
    except BaseException as error:
        summary.elapsed_s = time.perf_counter() - started
        summary.interrupted = isinstance(error, KeyboardInterrupt)
        record.finish(status="interrupted" if summary.interrupted else "failed", counts=summary.counts(), error=repr(error))
        raise
    summary.elapsed_s = time.perf_counter() - started
    record.finish(status="succeeded", counts=summary.counts())
    refresh_catalog_if_local(lake)
    return summary


def _commit_status_rows(lake: Lake, plan, run_id: str, config: IngestConfig, summary: IngestSummary) -> None:
    rows = [video_row(v, status=v.status, reason=v.status_reason, run_id=run_id, config_hash=config.processing_hash()) for v in plan.status_only]
    for row in rows:
        summary.add_video(row, FRAMES.schema.empty_table())
    commit_videos(lake, frames=[], videos=rows)
    set_source_present(lake, plan.gone_ids, present=False)
    set_source_present(lake, plan.returned_ids, present=True)


def _run_tasks(videos: list[VideoSource], *, lake: Lake, config: IngestConfig, address: str | None, run_id: str,
               summary: IngestSummary, progress: bool) -> None:
    ray = init_ray(address=address, num_cpus=config.workers)
    task = ray.remote(_process_remote).options(
        num_cpus=1, num_gpus=config.gpus_per_worker or None, max_retries=config.max_task_retries, retry_exceptions=False,
    )
    # largest first, so a long video does not start last and leave one worker busy alone
    queue = sorted(videos, key=lambda v: (-_estimated_frames(v, 1), v.video_id))
    estimates = {v.video_id: _estimated_frames(v, config.frame_stride) for v in videos}
    by_ref: dict = {}
    bar = FrameProgress(total_videos=len(videos), total_frames=sum(estimates.values()), enabled=progress)
    pending_frames, pending_rows = [], []
    in_flight = max(1, config.workers * 2)
    try:
        while queue or by_ref:
            while queue and len(by_ref) < in_flight:
                video = queue.pop(0)
                by_ref[task.remote(video, config, run_id)] = video
            done, _ = ray.wait(list(by_ref), num_returns=1)
            for ref in done:
                video = by_ref.pop(ref)
                result = _result_or_crash(ray, ref, video, config, run_id)
                summary.videos_processed += 1
                summary.add_video(result.video, result.frames)
                pending_frames.append(result.frames)
                pending_rows.append(result.video)
                bar.video_done(frames=result.n_frames, estimated=estimates[video.video_id])
            if len(pending_rows) >= config.commit_every or (not queue and not by_ref):
                commit_videos(lake, frames=pending_frames, videos=pending_rows)
                pending_frames, pending_rows = [], []
    except KeyboardInterrupt:
        # keep what finished; videos still running are abandoned and redone next run
        log.warning("interrupted: committing %d finished videos, abandoning %d in flight", len(pending_rows), len(by_ref))
        commit_videos(lake, frames=pending_frames, videos=pending_rows)
        raise
    finally:
        bar.close()


def _result_or_crash(ray, ref, video: VideoSource, config: IngestConfig, run_id: str) -> VideoResult:
    """The task's result; a task whose worker died more often than its retries is an error row."""
    try:
        return ray.get(ref)
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.RayTaskError, ray.exceptions.OutOfMemoryError) as error:
        log.error("video %s: task failed after retries: %s", video.video_id, error)
        reason = f"worker failed {config.max_task_retries + 1} times: {type(error).__name__}"
        row = video_row(video, status="error", reason=reason, run_id=run_id, config_hash=config.processing_hash())
        return VideoResult(video.video_id, FRAMES.schema.empty_table(), row, 0.0)


def main(argv: list[str] | None = None) -> int:
    from jobs.logs import start_job

    started = start_job(build_parser(), config_from_args, argv, log=log)
    if started is None:
        return 2
    args, config = started
    if not Path(args.source).is_dir():
        log.error("--source %s is not a folder; pass the root of a SiW tree", args.source)
        return 2
    if args.watch and not args.interval > 0:
        log.error("--interval must be > 0 seconds, got %s", args.interval)
        return 2
    lake, address = Lake.open(args.lake, create=True), args.address or os.environ.get("RAY_ADDRESS")
    if args.watch:
        return watch(source=args.source, lake=lake, config=config, address=address, interval=args.interval,
                     progress=not args.no_progress)
    try:
        summary = run_ingest(source=args.source, lake=lake, config=config, address=address,
                             progress=not args.no_progress)
    except KeyboardInterrupt:
        log.warning("ingest interrupted; finished videos are committed, rerun to complete")
        return 130
    for line in summary.lines():
        log.info("%s", line)
    return 1 if args.strict and summary.failures else 0


def watch(*, source: str, lake: Lake, config: IngestConfig, address: str | None, interval: float,
          progress: bool) -> int:
    """Ingest what is new, wait `interval` seconds, repeat, until SIGTERM/SIGINT.

    Each pass is an ordinary incremental run (its own `runs` row: found, processed,
    unchanged), so a video is processed by the first pass that sees it and skipped by
    every later one. A signal while waiting ends the loop at once (exit 0); a signal
    during a pass commits the videos already finished, abandons those in flight (the
    next run redoes them) and exits 130, as a plain run does.
    """
    passes = 0
    while True:
        try:
            summary = run_ingest(source=source, lake=lake, config=config, address=address, progress=progress)
        except KeyboardInterrupt:
            log.warning("watch: stopped during pass %d; finished videos are committed", passes + 1)
            return 130
        passes += 1
        log.info("watch: pass %d: %d found, %d processed, %d unchanged; next in %.0f s", passes,
                 summary.videos_found, summary.videos_processed, summary.videos_unchanged, interval)
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            log.info("watch: stopped after %d passes", passes)
            return 0


if __name__ == "__main__":
    from jobs.logs import run_job

    sys.exit(run_job(main))
