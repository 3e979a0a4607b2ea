"""`facelake register` / `python -m jobs.register`: a photo tree `<root>/<user>/*.jpg` into the lake's `photos` table.

Ray tasks detect the faces of a few photos each (a second, more permissive pass over the
photos with no face) and align them to 112x112; each photo is routed single, multi or
none by its faces. The job commits rows in batches (replacing a photo's row by its id, so
a rerun after a crash does not duplicate it). Unchanged photos are skipped: a rerun adds nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

import pyarrow as pa

from etl.config import RETRY_DETECTOR, DetectorConfig, RegisterConfig
from etl.ingest.plan import plan_sources
from etl.ingest.store import set_source_present
from etl.lake.catalog import refresh_catalog_if_local
from etl.lake.files import WrittenRows, commit_rows, write_rows
from etl.lake.lake import Lake
from etl.lake.runs import RunRecord
from etl.ray_runtime import init_ray
from etl.sources.photo_tree import PhotoSource, check_photo_source, scan_photo_tree
from etl.sources.siw_tree import NotASourceError, check_lake_outside_source
from schemas import PHOTOS, RUNS

log = logging.getLogger("facelake.register")


@dataclass
class RegisterSummary:
    run_id: str
    photos_found: int = 0
    photos_processed: int = 0
    photos_unchanged: int = 0
    photos_gone: int = 0
    ignored_files: int = 0
    status: Counter = field(default_factory=Counter)
    routes: Counter = field(default_factory=Counter)
    second_pass_found: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    elapsed_s: float = 0.0

    def add(self, rows: pa.Table) -> None:
        for row in rows.select(["photo_id", "status", "status_reason", "route", "detect_pass"]).to_pylist():
            self.status[row["status"]] += 1
            if row["route"]:
                self.routes[row["route"]] += 1
            if row["detect_pass"] == "second":
                self.second_pass_found += 1
            if row["status"] != "ok":
                self.failures.append((row["photo_id"], row["status"], row["status_reason"] or ""))

    def counts(self) -> dict:
        data = asdict(self)
        data.update(status=dict(self.status), routes=dict(self.routes), failures=[list(f) for f in self.failures])
        return data

    def lines(self) -> list[str]:
        routes = ", ".join(f"{k} {v}" for k, v in sorted(self.routes.items())) or "none"
        out = [
            f"run {self.run_id}",
            f"photos: {self.photos_found} found, {self.photos_processed} processed, {self.photos_unchanged} unchanged, "
            f"{self.photos_gone} gone from source, {self.ignored_files} other files ignored",
            f"routes (this run): {routes}; {self.second_pass_found} found only by the second detector pass",
            f"elapsed {self.elapsed_s:.1f} s",
        ]
        out += [f"FAILED {pid}: {status}: {reason}" for pid, status, reason in self.failures]
        return out


EXAMPLES = [
    (
        "register the demo photo registry (`facelake sample --photos demo/photos` writes one) into the demo lake",
        "facelake register --source demo/photos --lake demo/lake",
    ),
    (
        "then: a face vector per photo, and people registered twice found and merged",
        "facelake embed --lake demo/lake --source photos && facelake dedup --lake demo/lake --source photos",
    ),
    (
        "on a Ray cluster, from one of its nodes: the tree must be mounted at the same path on every node",
        "facelake register --source /shared/photos --lake /shared/lake --address HEAD_IP:6379 --workers 16",
    ),
    (
        "only the first detector pass, photos with no face are left as they are",
        "facelake register --source demo/photos --lake demo/lake --retry-detector none",
    ),
]
NOTES = """\
source: one folder per user directly inside --source, holding that user's photos
(.jpg, .jpeg, .png): <root>/<user>/<photo>. Other files are counted and named in the log.
A folder with no photo in a user folder is refused before anything is written (a SiW video
tree goes to `facelake ingest`). A rerun processes only new, changed and failed photos."""


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The register options, on a new parser or added to `parser`."""
    from jobs.cli_help import add_lake_option, add_ray_address_option, job_parser

    parser = parser or job_parser("register", __doc__, examples=EXAMPLES, notes=NOTES)
    detector, defaults = DetectorConfig(), RegisterConfig()
    parser.add_argument(
        "--source",
        required=True,
        metavar="DIR|URI",
        help="root of the photo tree: the folder (or s3://bucket/prefix) holding one folder per user; "
        "only read, never changed",
    )
    add_lake_option(parser, creates=True)
    add_ray_address_option(parser)
    parser.add_argument(
        "--workers", type=int, default=defaults.workers, metavar="N", help="Ray tasks at once (one CPU each)"
    )
    parser.add_argument(
        "--photos-per-task",
        type=int,
        default=defaults.photos_per_task,
        metavar="N",
        help="photos per Ray task; a batch commit every --workers x N photos",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="reprocess every photo, even unchanged ones (after changing detector settings)",
    )
    parser.add_argument(
        "--detector",
        default=detector.backend,
        metavar="NAME",
        help="first pass face detector: mtcnn (weights ship with the package) or insightface:DIR "
        "(an SCRFD/RetinaFace .onnx file in DIR)",
    )
    parser.add_argument(
        "--accept-score",
        type=float,
        default=detector.accept_score,
        metavar="SCORE",
        help="first pass: faces scoring below this are not counted",
    )
    parser.add_argument(
        "--min-face-size",
        type=int,
        default=detector.min_face_size,
        metavar="PIXELS",
        help="first pass: smallest face searched for, in photo pixels (at least 12)",
    )
    parser.add_argument(
        "--retry-detector",
        default=RETRY_DETECTOR.backend,
        metavar="NAME",
        help="second pass over the photos where the first found no face: mtcnn (with more permissive "
        f"settings: stage thresholds {' '.join(map(str, RETRY_DETECTOR.stage_thresholds))}, "
        f"faces from {RETRY_DETECTOR.min_face_size} pixels, score {RETRY_DETECTOR.accept_score}), "
        "insightface:DIR, or none (no second pass)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when any photo did not end ok (by default failures are rows and the exit is 0)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> RegisterConfig:
    detector = DetectorConfig(backend=args.detector, accept_score=args.accept_score, min_face_size=args.min_face_size)
    retry = None
    if args.retry_detector != "none":
        retry = DetectorConfig(**{**asdict(RETRY_DETECTOR), "backend": args.retry_detector})
    return RegisterConfig(
        detector=detector,
        retry_detector=retry,
        workers=args.workers,
        photos_per_task=args.photos_per_task,
        full=args.full,
    )


def _process_remote(photos: list[PhotoSource], config: RegisterConfig, run_id: str, lake: Lake) -> WrittenRows:
    """Body of the Ray task: the photos' rows written into the lake's storage; the driver gets them without images."""
    from etl.ingest.photo import process_photos

    return write_rows(lake, PHOTOS, process_photos(photos, config, run_id=run_id))


def run_register(
    *, source: str, lake: Lake, config: RegisterConfig, address: str | None = None, run_id: str | None = None
) -> RegisterSummary:
    started = time.perf_counter()
    scan = scan_photo_tree(source)
    record = RunRecord(
        lake,
        job="register",
        source=scan.source_root,
        args={"config": asdict(config), "address": address},
        run_id=run_id,
    )
    for spec in (PHOTOS, RUNS):
        lake.ensure(spec)
    record.start()
    # the catalog now, not only at the end: a first run killed midway still leaves one to query
    refresh_catalog_if_local(lake)
    summary = RegisterSummary(run_id=record.run_id, photos_found=len(scan.photos), ignored_files=len(scan.ignored))
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
    try:
        if plan.status_only:
            from etl.ingest.photo import photo_row

            rows = pa.Table.from_pylist(
                [photo_row(p, run_id=record.run_id, config_hash=config.processing_hash()) for p in plan.status_only],
                schema=PHOTOS.schema,
            )
            _commit(lake, [WrittenRows(rows=rows, files=None)], summary)
        set_source_present(lake, plan.gone_ids, present=False, spec=PHOTOS, key="photo_id")
        set_source_present(lake, plan.returned_ids, present=True, spec=PHOTOS, key="photo_id")
        if plan.to_process:
            _run_tasks(
                plan.to_process, lake=lake, config=config, address=address, run_id=record.run_id, summary=summary
            )
    except BaseException as error:
        summary.elapsed_s = time.perf_counter() - started
        interrupted = isinstance(error, KeyboardInterrupt)
        record.finish(status="interrupted" if interrupted else "failed", counts=summary.counts(), error=repr(error))
        raise
    summary.elapsed_s = time.perf_counter() - started
    record.finish(status="succeeded", counts=summary.counts())
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


def main(argv: list[str] | None = None) -> int:
    from jobs.logs import start_job

    started = start_job(build_parser(), config_from_args, argv, log=log)
    if started is None:
        return 2
    args, config = started
    # the source is checked before the lake is opened: a wrong --source writes nothing anywhere
    try:
        check_photo_source(args.source)
        check_lake_outside_source(args.lake, args.source)
    except NotASourceError as error:
        log.error("%s", error)
        return 2
    lake = Lake.open(args.lake, create=True)
    try:
        summary = run_register(
            source=args.source, lake=lake, config=config, address=args.address or os.environ.get("RAY_ADDRESS")
        )
    except KeyboardInterrupt:
        log.warning("register interrupted; finished photos are committed, rerun to complete")
        return 130
    for line in summary.lines():
        log.info("%s", line)
    return 1 if args.strict and summary.failures else 0


if __name__ == "__main__":
    from jobs.logs import run_job

    sys.exit(run_job(main, job="register"))
