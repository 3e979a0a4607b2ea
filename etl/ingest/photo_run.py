"""The photo registry's run: a photo tree `<root>/<user>/*.jpg` into the lake's `photos` table.

Part of the orchestration layer with `etl.ingest.run` (which exports `run_register`): Ray tasks
detect the faces of a few photos each (a second, more permissive pass over the photos with no
face) and align them to 112x112 (`etl.ingest.photo`); each photo is routed single, multi or none
by its faces. The run commits rows in batches (replacing a photo's row by its id, so a rerun after
a crash does not duplicate it). Unchanged photos are skipped: a rerun adds nothing. It has its own
module because its Ray task body keeps the name `_process_remote`, as the video run's does.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

import pyarrow as pa

from etl.config import RegisterConfig
from etl.ingest.plan import plan_sources
from etl.ingest.store import set_source_present
from etl.ingest.summary import RegisterSummary
from etl.lake.catalog import refresh_catalog_if_local
from etl.lake.files import WrittenRows, commit_rows, write_rows
from etl.lake.lake import Lake
from etl.lake.runs import new_run_id, recorded_run
from etl.ray_runtime import init_ray
from etl.sources.photo_tree import PhotoSource, scan_photo_tree
from schemas import PHOTOS, RUNS

__all__ = ["run_register"]

log = logging.getLogger(f"facelake.{__name__}")


def _process_remote(photos: list[PhotoSource], config: RegisterConfig, run_id: str, lake: Lake) -> WrittenRows:
    """Body of the Ray task: the photos' rows written into the lake's storage; the driver gets them without images."""
    from etl.ingest.photo import process_photos

    return write_rows(lake, PHOTOS, process_photos(photos, config, run_id=run_id))


def run_register(
    *, source: str, lake: Lake, config: RegisterConfig, address: str | None = None, run_id: str | None = None
) -> RegisterSummary:
    """Register the new, changed and failed photos of the photo tree `source` into `lake`, as one recorded run.

    Args:
        source: the tree's root, a local folder or a URI (checked first with
            `etl.sources.photo_tree.check_photo_source`).
        address: the Ray cluster to run on (None: a local Ray).
        run_id: the run's id (default: a new one).

    Returns:
        The run's summary (also recorded as the `runs` row's counts).

    Raises:
        KeyboardInterrupt: after committing the finished photos and recording the run `interrupted`.
    """
    started = time.perf_counter()
    scan = scan_photo_tree(source)
    run_id = run_id or new_run_id("register")
    summary = RegisterSummary(run_id=run_id, photos_found=len(scan.photos), ignored_files=len(scan.ignored))

    def on_end(error: BaseException | None) -> None:
        summary.elapsed_s = time.perf_counter() - started

    for spec in (PHOTOS, RUNS):
        lake.ensure(spec)
    args = {"config": asdict(config), "address": address}
    with recorded_run(
        lake, job="register", source=scan.source_root, args=args, run_id=run_id, counts=summary.counts, on_end=on_end
    ):
        # the catalog now, not only at the end: a first run killed midway still leaves one to query
        refresh_catalog_if_local(lake)
        plan = plan_sources(
            scan.photos,
            lake.read(PHOTOS),
            key="photo_id",
            source_root=scan.source_root,
            full=config.full,
            config_hash=config.processing_hash(),
        )
        summary.photos_unchanged, summary.photos_gone = plan.unchanged, len(plan.gone_ids)
        log.info(
            "scan of %s: %d photos; %d to process, %d status-only, %d unchanged, %d gone",
            scan.source_root,
            len(scan.photos),
            len(plan.to_process),
            len(plan.status_only),
            plan.unchanged,
            len(plan.gone_ids),
        )
        if plan.status_only:
            from etl.ingest.photo import photo_row

            rows = pa.Table.from_pylist(
                [photo_row(p, run_id=run_id, config_hash=config.processing_hash()) for p in plan.status_only],
                schema=PHOTOS.schema,
            )
            _commit(lake, [WrittenRows(rows=rows, files=None)], summary)
        set_source_present(lake, plan.gone_ids, present=False, spec=PHOTOS, key="photo_id")
        set_source_present(lake, plan.returned_ids, present=True, spec=PHOTOS, key="photo_id")
        if plan.to_process:
            _run_tasks(plan.to_process, lake=lake, config=config, address=address, run_id=run_id, summary=summary)
    refresh_catalog_if_local(lake)
    return summary


def _commit(lake: Lake, parts: list[WrittenRows], summary: RegisterSummary) -> None:
    rows = commit_rows(lake, PHOTOS, key="photo_id", parts=parts)
    if rows.num_rows:
        summary.add(rows)


def _run_tasks(
    photos: list[PhotoSource],
    *,
    lake: Lake,
    config: RegisterConfig,
    address: str | None,
    run_id: str,
    summary: RegisterSummary,
) -> None:
    ray = init_ray(address=address, num_cpus=config.workers)
    task = ray.remote(_process_remote).options(num_cpus=1, max_retries=3, retry_exceptions=False)
    chunks = [photos[i : i + config.photos_per_task] for i in range(0, len(photos), config.photos_per_task)]
    by_ref: dict = {}
    pending: list[WrittenRows] = []
    committed = 0  # photos of this run's tasks already in the lake
    in_flight = max(1, config.workers * 2)
    try:
        while chunks or by_ref:
            while chunks and len(by_ref) < in_flight:
                chunk = chunks.pop(0)
                by_ref[task.remote(chunk, config, run_id, lake)] = chunk
            done, _ = ray.wait(list(by_ref), num_returns=1)
            for ref in done:
                chunk = by_ref.pop(ref)
                pending.append(ray.get(ref))
                summary.photos_processed += len(chunk)
            batch_rows = sum(p.rows.num_rows for p in pending)
            if batch_rows >= config.photos_per_task * config.workers or (not chunks and not by_ref):
                _commit(lake, pending, summary)
                committed += batch_rows
                log.info("%d / %d photos done", summary.photos_processed, len(photos))
                pending = []
    except KeyboardInterrupt:
        log.warning(
            "interrupted: %d photos already committed, committing %d more finished ones; "
            "abandoning %d tasks in flight (the next run redoes them)",
            committed,
            sum(p.rows.num_rows for p in pending),
            len(by_ref),
        )
        if pending:
            _commit(lake, pending, summary)
        raise
