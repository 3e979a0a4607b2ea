"""`facelake ingest` / `python -m jobs.ingest`: a SiW video tree into the lake's `videos` and `frames` tables.

Each video is one Ray task: its frames are decoded, the face found (the .face box first,
then the whole frame) and aligned to 112x112. The job commits finished videos every
--commit-every videos (`etl.ingest.store`) and shows a progress bar; a killed run loses at
most the videos not yet committed, and the next run picks up where it stopped.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import asdict

from etl.config import CROP_FORMATS, DetectorConfig, IngestConfig
from etl.ingest.plan import plan_ingest
from etl.ingest.store import commit_videos, set_source_present
from etl.ingest.summary import IngestSummary
from etl.ingest.video import VideoResult, video_row
from etl.lake.catalog import refresh_catalog_if_local
from etl.lake.lake import Lake
from etl.lake.runs import RunRecord
from etl.ray_runtime import init_ray
from etl.sources.files import is_empty_source_folder
from etl.sources.siw_tree import (
    NotASourceError,
    VideoSource,
    check_lake_outside_source,
    check_siw_source,
    scan_source,
)
from jobs.progress import FrameProgress
from schemas import FRAMES, RUNS, VIDEOS

log = logging.getLogger("facelake.ingest")


EXAMPLES = [
    (
        "ingest the demo tree (`facelake sample --out demo/siw` writes one)",
        "facelake ingest --source demo/siw --lake demo/lake",
    ),
    (
        "on a Ray cluster, from one of its nodes: the tree must be mounted at the same path on every node",
        "facelake ingest --source /shared/SiW --lake /shared/lake --address HEAD_IP:6379 --workers 32 --gpus-per-worker 0.25",
    ),
    (
        "from a tree on S3 into a lake on S3 (credentials from AWS_* or FACELAKE_STORAGE_OPTIONS, on every node)",
        "facelake ingest --source s3://bucket/SiW --lake s3://bucket/lake --address HEAD_IP:6379 --workers 32",
    ),
    (
        "keep ingesting what arrives, every 10 minutes, until Ctrl-C or SIGTERM",
        "facelake ingest --source /data/siw --lake /data/lake --watch --interval 600",
    ),
    (
        "reprocess every video with other detector settings",
        "facelake ingest --source demo/siw --lake demo/lake --full --min-face-size 30 --accept-score 0.9",
    ),
    ("then: a photo registry into the same lake", "facelake register --source demo/photos --lake demo/lake"),
]
NOTES = """\
source: the SiW layout {Train,Test}/{live,spoof}/SSS/SSS-sensor-type-medium-session.mov (or .m.mov),
each video's .face file beside it. A folder without Train/ or Test/ holding live/ or spoof/
is refused before anything is written (a photo tree goes to `facelake register`); inside a
SiW tree a badly named or unreadable video becomes a row with its status and reason.
A rerun processes only new, changed and failed videos."""


class SpacedTuple(tuple):
    """A default shown in --help as the user types it (`0.6 0.7 0.7`), not as a tuple."""

    def __str__(self) -> str:
        return " ".join(str(v) for v in self)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The ingest options, on a new parser or added to `parser`."""
    from jobs.cli_help import add_lake_option, add_ray_address_option, job_parser

    parser = parser or job_parser("ingest", __doc__, examples=EXAMPLES, notes=NOTES)
    detector = DetectorConfig()
    parser.add_argument(
        "--source",
        required=True,
        metavar="DIR|URI",
        help="root of the SiW tree: the folder (or s3://bucket/prefix) holding Train/ and/or Test/; "
        "only read, never changed",
    )
    add_lake_option(parser, creates=True)
    add_ray_address_option(parser)
    parser.add_argument(
        "--workers",
        type=int,
        default=IngestConfig.workers,
        metavar="N",
        help="videos processed at once (Ray tasks of one CPU each)",
    )
    parser.add_argument(
        "--gpus-per-worker",
        type=float,
        default=IngestConfig.gpus_per_worker,
        metavar="GPUS",
        help="GPUs each video task asks Ray for (e.g. 0.25: four tasks share a GPU); 0: CPU only",
    )
    parser.add_argument(
        "--frame-stride",
        type=int,
        default=IngestConfig.frame_stride,
        metavar="N",
        help="keep every N-th frame of each video (1: every frame)",
    )
    parser.add_argument(
        "--crops",
        choices=CROP_FORMATS,
        default=IngestConfig.crops,
        help="also store each frame's .face-box crop in this image format",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="reprocess every video, even unchanged ones (after changing detector settings)",
    )
    parser.add_argument(
        "--commit-every",
        type=int,
        default=IngestConfig.commit_every,
        metavar="N",
        help="videos per Delta commit: what a crash can lose at most",
    )
    parser.add_argument(
        "--task-memory-mb",
        type=int,
        default=IngestConfig.task_memory_mb,
        metavar="MB",
        help="stop a video whose processing grows its worker's memory by more than this many MB "
        "(0: no limit); it gets an error row and the next run retries it",
    )
    parser.add_argument(
        "--detector",
        default=detector.backend,
        metavar="NAME",
        help="face detector: mtcnn (weights ship with the package) or insightface:DIR "
        "(an SCRFD/RetinaFace .onnx file in DIR)",
    )
    parser.add_argument(
        "--stage-thresholds",
        type=float,
        nargs=3,
        default=SpacedTuple(detector.stage_thresholds),
        metavar=("PNET", "RNET", "ONET"),
        help="MTCNN's three stage thresholds, each in (0, 1); lower finds more (and more false) faces",
    )
    parser.add_argument(
        "--min-face-size",
        type=int,
        default=detector.min_face_size,
        metavar="PIXELS",
        help="smallest face searched for, in frame pixels (at least 12)",
    )
    parser.add_argument(
        "--accept-score",
        type=float,
        default=detector.accept_score,
        metavar="SCORE",
        help="a frame whose best face scores below this gets det_status low_score and no aligned face",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs and batch jobs)")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when any video did not end ok (by default failures are rows and the exit is 0)",
    )
    parser.add_argument(
        "--watch",
        action="store_true",
        help="keep ingesting what is new every --interval seconds until Ctrl-C or SIGTERM; the source "
        "may start empty (each pass first checks it is a SiW tree)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="with --watch: seconds from the end of one pass to the start of the next",
    )
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


def _process_remote(video: VideoSource, config: IngestConfig, run_id: str, lake: Lake) -> VideoResult:
    """Body of the Ray task: the video's frames written into the lake's storage (the driver commits them, and
    never receives their image bytes); per-video failures become an `error` row, never an exception."""
    import traceback

    from etl.faces.detect import cached_detector
    from etl.ingest.video import process_video

    started = time.perf_counter()
    try:
        return process_video(video, config, cached_detector(config.detector), run_id=run_id).written_to(lake)
    except Exception as error:  # noqa: BLE001 - recorded on the video's row with its reason
        logging.getLogger("facelake.ingest").error("video %s failed: %s", video.video_id, traceback.format_exc())
        from etl.ingest.provenance import processing_node

        row = video_row(
            video,
            status="error",
            reason=f"{type(error).__name__}: {error}",
            run_id=run_id,
            config_hash=config.processing_hash(),
            processed_on=processing_node(),
        )
        return VideoResult(video.video_id, FRAMES.schema.empty_table(), row, time.perf_counter() - started)


def _estimated_frames(video: VideoSource, stride: int) -> int:
    lines = video.face_lines  # not `annotations`: parsing every video's .face would keep them all in the driver
    return max(1, -(-lines // stride)) if lines else 1


def run_ingest(
    *,
    source: str,
    lake: Lake,
    config: IngestConfig,
    address: str | None = None,
    progress: bool = True,
    run_id: str | None = None,
) -> IngestSummary:
    started = time.perf_counter()
    scan = scan_source(source)
    record = RunRecord(
        lake, job="ingest", source=scan.source_root, args={"config": asdict(config), "address": address}, run_id=run_id
    )
    for spec in (VIDEOS, FRAMES, RUNS):
        lake.ensure(spec)
    record.start()
    # the catalog now, not only at the end: a first run killed midway still leaves one to query
    refresh_catalog_if_local(lake)
    summary = IngestSummary(
        run_id=record.run_id,
        videos_found=len(scan.videos),
        orphan_face_files=len(scan.orphan_face_files),
        ignored_files=scan.ignored_files,
    )
    plan = plan_ingest(scan, lake.read(VIDEOS), full=config.full, config_hash=config.processing_hash())
    summary.videos_unchanged = plan.unchanged
    summary.videos_gone = len(plan.gone_ids)
    log.info(
        "scan of %s: %d videos; %d to process, %d status-only, %d unchanged, %d gone",
        scan.source_root,
        len(scan.videos),
        len(plan.to_process),
        len(plan.status_only),
        plan.unchanged,
        len(plan.gone_ids),
    )
    if plan.other_settings:
        log.warning(
            "%d unchanged videos were processed with other settings; use --full to reprocess them", plan.other_settings
        )
    try:
        _commit_status_rows(lake, plan, record.run_id, config, summary)
        if plan.to_process:
            _run_tasks(
                plan.to_process,
                lake=lake,
                config=config,
                address=address,
                run_id=record.run_id,
                summary=summary,
                progress=progress,
            )
    except BaseException as error:
        summary.elapsed_s = time.perf_counter() - started
        summary.interrupted = isinstance(error, KeyboardInterrupt)
        record.finish(
            status="interrupted" if summary.interrupted else "failed", counts=summary.counts(), error=repr(error)
        )
        raise
    summary.elapsed_s = time.perf_counter() - started
    record.finish(status="succeeded", counts=summary.counts())
    refresh_catalog_if_local(lake)
    return summary


def _commit_status_rows(lake: Lake, plan, run_id: str, config: IngestConfig, summary: IngestSummary) -> None:
    rows = [
        video_row(v, status=v.status, reason=v.status_reason, run_id=run_id, config_hash=config.processing_hash())
        for v in plan.status_only
    ]
    for row in rows:
        summary.add_video(row, FRAMES.schema.empty_table())
    commit_videos(lake, videos=rows)
    set_source_present(lake, plan.gone_ids, present=False)
    set_source_present(lake, plan.returned_ids, present=True)


def _run_tasks(
    videos: list[VideoSource],
    *,
    lake: Lake,
    config: IngestConfig,
    address: str | None,
    run_id: str,
    summary: IngestSummary,
    progress: bool,
) -> None:
    ray = init_ray(address=address, num_cpus=config.workers)
    task = ray.remote(_process_remote).options(
        num_cpus=1,
        num_gpus=config.gpus_per_worker or None,
        max_retries=config.max_task_retries,
        retry_exceptions=False,
    )
    # largest first, so a long video does not start last and leave one worker busy alone
    queue = sorted(videos, key=lambda v: (-_estimated_frames(v, 1), v.video_id))
    estimates = {v.video_id: _estimated_frames(v, config.frame_stride) for v in videos}
    by_ref: dict = {}
    bar = FrameProgress(total_videos=len(videos), total_frames=sum(estimates.values()), enabled=progress)
    pending_frames, pending_staged, pending_rows = [], [], []
    committed = 0  # videos of this run already in the lake
    in_flight = max(1, config.workers * 2)
    try:
        while queue or by_ref:
            while queue and len(by_ref) < in_flight:
                video = queue.pop(0)
                by_ref[task.remote(video, config, run_id, lake)] = video
            done, _ = ray.wait(list(by_ref), num_returns=1)
            for ref in done:
                video = by_ref.pop(ref)
                result = _result_or_crash(ray, ref, video, config, run_id)
                summary.videos_processed += 1
                summary.add_video(result.video, result.frames)
                if result.staged is None:
                    pending_frames.append(result.frames)  # a lake workers cannot write to: the driver writes them
                else:
                    pending_staged.extend(result.staged)
                pending_rows.append(result.video)
                bar.video_done(frames=result.n_frames, estimated=estimates[video.video_id])
            if len(pending_rows) >= config.commit_every or (not queue and not by_ref):
                commit_videos(lake, videos=pending_rows, frames=pending_frames, staged=pending_staged)
                committed += len(pending_rows)
                pending_frames, pending_staged, pending_rows = [], [], []
    except KeyboardInterrupt:
        # keep what finished; videos still running are abandoned and redone next run
        log.warning(
            "interrupted: %d videos already committed, committing %d more finished ones; "
            "abandoning %d in flight (the next run redoes them)",
            committed,
            len(pending_rows),
            len(by_ref),
        )
        commit_videos(lake, videos=pending_rows, frames=pending_frames, staged=pending_staged)
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
    if args.watch and not args.interval > 0:
        log.error("--interval must be > 0 seconds, got %s", args.interval)
        return 2
    # the source is checked before the lake is opened: a wrong --source writes nothing anywhere
    try:
        check_source(args.source, watch=args.watch)
        check_lake_outside_source(args.lake, args.source)
    except NotASourceError as error:
        log.error("%s", error)
        return 2
    lake, address = Lake.open(args.lake, create=True), args.address or os.environ.get("RAY_ADDRESS")
    if args.watch:
        return watch(
            source=args.source,
            lake=lake,
            config=config,
            address=address,
            interval=args.interval,
            progress=not args.no_progress,
        )
    try:
        summary = run_ingest(
            source=args.source, lake=lake, config=config, address=address, progress=not args.no_progress
        )
    except KeyboardInterrupt:
        log.warning("ingest interrupted; finished videos are committed, rerun to complete")
        return 130
    for line in summary.lines():
        log.info("%s", line)
    return 1 if args.strict and summary.failures else 0


def check_source(source: str, *, watch: bool) -> None:
    """NotASourceError unless `source` is a SiW tree (`etl.sources.siw_tree.check_siw_source`).

    With --watch an empty folder passes too: a landing folder that fills later. Every pass
    checks again and skips (writing nothing) while the folder is not a SiW tree.
    """
    if not (watch and _is_empty_folder(source)):
        check_siw_source(source)


def _not_a_siw_tree(source: str) -> str | None:
    try:
        check_siw_source(source)
    except NotASourceError as error:
        return str(error)
    return None


def _is_empty_folder(path: str) -> bool:
    """Whether `path` is an empty folder: a local one, or an object-store prefix marked as a folder (`prefix/`)."""
    return is_empty_source_folder(path)  # False when unreadable: check_siw_source says why


def watch(
    *, source: str, lake: Lake, config: IngestConfig, address: str | None, interval: float, progress: bool
) -> int:
    """Ingest what is new, wait `interval` seconds, repeat, until SIGTERM/SIGINT.

    Each pass is an ordinary incremental run (its own `runs` row: found, processed,
    unchanged), so a video is processed by the first pass that sees it and skipped by
    every later one. A pass while the source is not (yet) a SiW tree is skipped: no run,
    nothing written. A signal while waiting ends the loop at once (exit 0); a signal
    during a pass commits the videos already finished, abandons those in flight (the
    next run redoes them) and exits 130, as a plain run does.
    """
    passes, said, in_pass = 0, None, False
    try:
        while True:
            problem = _not_a_siw_tree(source)
            if problem is None:
                in_pass = True
                summary = run_ingest(source=source, lake=lake, config=config, address=address, progress=progress)
                in_pass = False
                passes += 1
                log.info(
                    "watch: pass %d: %d found, %d processed, %d unchanged; next in %.0f s",
                    passes,
                    summary.videos_found,
                    summary.videos_processed,
                    summary.videos_unchanged,
                    interval,
                )
            elif problem != said:  # said once, not every interval
                # an empty landing folder is expected; anything else there is worth a warning
                log.log(
                    logging.INFO if _is_empty_folder(source) else logging.WARNING,
                    "watch: nothing to ingest yet: %s",
                    problem,
                )
            said = problem
            time.sleep(interval)
    except KeyboardInterrupt:
        # a signal outside a pass (while waiting, checking the source or logging) is a clean stop
        if in_pass:
            log.warning("watch: stopped during pass %d; finished videos are committed", passes + 1)
            return 130
        log.info("watch: stopped after %d passes", passes)
        return 0


if __name__ == "__main__":
    from jobs.logs import run_job

    sys.exit(run_job(main, job="ingest"))
