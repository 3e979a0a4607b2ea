"""The ingest stage's runs: a SiW tree into `videos` + `frames` (`run_ingest`, `watch`), a photo tree into
`photos` (`run_register`, in `etl.ingest.photo_run`).

This is the orchestration layer (the layer rule of `docs/architecture.md`): a run alone opens
`recorded_run`, starts Ray (`etl.ray_runtime`), fans one task out per video and commits what the
tasks wrote, every `commit_every` videos (`etl.ingest.store`); a killed run loses at most the videos
not yet committed, and the next run picks up where it stopped. The modules below it (`video`,
`photo`, `plan`, `store`) transform data and never start a run. `jobs/ingest.py` only parses the
command line, calls these and maps the outcome to an exit code.

The Ray task bodies keep their name `_process_remote` (a worker's process title and log prefix),
which is why the photo registry's run has its own module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

from etl.config import IngestConfig
from etl.errors import FacelakeError
from etl.ingest.photo_run import run_register
from etl.ingest.plan import IngestPlan, plan_ingest
from etl.ingest.store import commit_videos, set_source_present
from etl.ingest.summary import IngestSummary, RegisterSummary
from etl.ingest.video import VideoResult, video_row
from etl.lake.catalog import refresh_catalog_if_local
from etl.lake.lake import Lake
from etl.lake.runs import new_run_id, recorded_run
from etl.ray_runtime import init_ray
from etl.sources.files import is_empty_source_folder
from etl.sources.siw_tree import NotASourceError, VideoSource, check_siw_source, scan_source
from schemas import FRAMES, RUNS, VIDEOS
from schemas.vocabulary import VideoStatus

__all__ = [
    "IngestSummary",
    "NoProgress",
    "RegisterSummary",
    "VideoProgress",
    "WatchResult",
    "check_source",
    "run_ingest",
    "run_register",
    "watch",
]

log = logging.getLogger(f"facelake.{__name__}")


class VideoProgress(Protocol):
    """What a run reports its progress to (the command line's `jobs.common.progress.FrameProgress`)."""

    def video_done(self, *, frames: int, estimated: int) -> None: ...

    def close(self) -> None: ...


class NoProgress:
    """The default progress: reports nowhere."""

    def __init__(self, *, total_videos: int = 0, total_frames: int = 0) -> None:
        pass

    def video_done(self, *, frames: int, estimated: int) -> None:
        pass

    def close(self) -> None:
        pass


# called with the videos to process and the frames expected of them; returns where to report
ProgressFactory = Callable[..., VideoProgress]


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
        log.error("video %s failed: %s", video.video_id, traceback.format_exc())
        from etl.ingest.provenance import processing_node

        row = video_row(
            video,
            status=VideoStatus.ERROR,
            reason=f"{type(error).__name__}: {_reason(error)}",
            run_id=run_id,
            config_hash=config.processing_hash(),
            processed_on=processing_node(),
        )
        return VideoResult(video.video_id, FRAMES.schema.empty_table(), row, time.perf_counter() - started)


def _reason(error: Exception) -> str:
    """An error as a row's reason; a facelake error names settings as the flags a rerun takes."""
    return error.line(flags=True) if isinstance(error, FacelakeError) else str(error)


def _estimated_frames(video: VideoSource, stride: int) -> int:
    lines = video.face_lines  # not `annotations`: parsing every video's .face would keep them all in the driver
    return max(1, -(-lines // stride)) if lines else 1


def run_ingest(
    *,
    source: str,
    lake: Lake,
    config: IngestConfig,
    address: str | None = None,
    progress: ProgressFactory = NoProgress,
    run_id: str | None = None,
) -> IngestSummary:
    """Ingest the new, changed and failed videos of the SiW tree `source` into `lake`, as one recorded run.

    Args:
        source: the tree's root, a local folder or a URI (checked first with `check_source`).
        address: the Ray cluster to run on (None: a local Ray).
        progress: called as `progress(total_videos=..., total_frames=...)` before the tasks start; what it
            returns is told of each finished video and closed at the end.
        run_id: the run's id (default: a new one).

    Returns:
        The run's summary (also recorded as the `runs` row's counts).

    Raises:
        KeyboardInterrupt: after committing the finished videos and recording the run `interrupted`.
    """
    started = time.perf_counter()
    scan = scan_source(source)
    run_id = run_id or new_run_id("ingest")
    summary = IngestSummary(
        run_id=run_id,
        videos_found=len(scan.videos),
        orphan_face_files=len(scan.orphan_face_files),
        ignored_files=scan.ignored_files,
    )

    def on_end(error: BaseException | None) -> None:
        summary.elapsed_s = time.perf_counter() - started
        summary.interrupted = isinstance(error, KeyboardInterrupt)

    for spec in (VIDEOS, FRAMES, RUNS):
        lake.ensure(spec)
    args = {"config": asdict(config), "address": address}
    with recorded_run(
        lake, job="ingest", source=scan.source_root, args=args, run_id=run_id, counts=summary.counts, on_end=on_end
    ):
        # the catalog now, not only at the end: a first run killed midway still leaves one to query
        refresh_catalog_if_local(lake)
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
                "%d unchanged videos were processed with other settings; use --full to reprocess them",
                plan.other_settings,
            )
        _commit_status_rows(lake, plan, run_id, config, summary)
        if plan.to_process:
            _run_tasks(
                plan.to_process,
                lake=lake,
                config=config,
                address=address,
                run_id=run_id,
                summary=summary,
                progress=progress,
            )
    refresh_catalog_if_local(lake)
    return summary


def _commit_status_rows(
    lake: Lake, plan: IngestPlan, run_id: str, config: IngestConfig, summary: IngestSummary
) -> None:
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
    progress: ProgressFactory,
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
    bar = progress(total_videos=len(videos), total_frames=sum(estimates.values()))
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
        row = video_row(
            video, status=VideoStatus.ERROR, reason=reason, run_id=run_id, config_hash=config.processing_hash()
        )
        return VideoResult(video.video_id, FRAMES.schema.empty_table(), row, 0.0)


def check_source(source: str, *, watch: bool) -> None:
    """Check that `source` is a SiW tree (`etl.sources.siw_tree.check_siw_source`) before any work.

    With `watch` an empty folder passes too: a landing folder that fills later. Every pass
    checks again and skips (writing nothing) while the folder is not a SiW tree.

    Raises:
        NotASourceError: a `UsageError` saying what the folder is instead and what to pass.
    """
    if not (watch and is_empty_source_folder(source)):  # False when unreadable: check_siw_source says why
        check_siw_source(source)


def _not_a_siw_tree(source: str) -> str | None:
    """Why `source` is not (yet) a SiW tree, as the command line says it; None when it is one."""
    try:
        check_siw_source(source)
    except NotASourceError as error:
        return error.line(flags=True)
    return None


@dataclass(frozen=True)
class WatchResult:
    """How a watch ended: after `passes` complete passes, and whether a signal stopped it during one."""

    passes: int
    stopped_during_pass: bool


def watch(
    *,
    source: str,
    lake: Lake,
    config: IngestConfig,
    address: str | None,
    interval: float,
    progress: ProgressFactory = NoProgress,
) -> WatchResult:
    """Ingest what is new, wait `interval` seconds, repeat, until SIGTERM/SIGINT.

    Each pass is an ordinary incremental run (its own `runs` row: found, processed,
    unchanged), so a video is processed by the first pass that sees it and skipped by
    every later one. A pass while the source is not (yet) a SiW tree is skipped: no run,
    nothing written. A signal while waiting ends the loop at once; a signal during a pass
    commits the videos already finished and abandons those in flight (the next run redoes
    them), as a plain run does; the result says which (the command line exits 0 or 130).
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
                    logging.INFO if is_empty_source_folder(source) else logging.WARNING,
                    "watch: nothing to ingest yet: %s",
                    problem,
                )
            said = problem
            time.sleep(interval)
    except KeyboardInterrupt:
        # a signal outside a pass (while waiting, checking the source or logging) is a clean stop
        if in_pass:
            log.warning("watch: stopped during pass %d; finished videos are committed", passes + 1)
            return WatchResult(passes=passes, stopped_during_pass=True)
        log.info("watch: stopped after %d passes", passes)
        return WatchResult(passes=passes, stopped_during_pass=False)
