"""`run_embed`: the orchestration of `facelake embed` (the layer that records runs and starts Ray).

The layer rule: `jobs/embed.py` only parses arguments, builds `EmbedJobConfig` and calls
`run_embed`; this module alone records the run (`recorded_run`), starts Ray and commits to
the lake; the modules below it (`backends`, `stage`, `plan`) transform data and never start a job.

Ray actors each load the model once (a GPU each with `gpus_per_worker`) and embed batches of
aligned faces read from `frames` or `photos`. Only faces without a current vector for the model
are embedded, and each commit replaces exactly the keys it carries, so a rerun, or a rerun
after a crash, adds nothing twice.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa

from etl.embed.backends import EmbedderConfig
from etl.embed.plan import METADATA_COLUMNS, check_where, stale_query, todo_query
from etl.errors import require
from etl.lake.catalog import refresh_catalog_if_local
from etl.lake.lake import Lake
from etl.lake.query import connect
from etl.lake.rows import in_predicate, sql_string
from etl.lake.runs import new_run_id, recorded_run
from etl.ray_runtime import init_ray
from schemas import EMBEDDINGS, RUNS
from schemas.vocabulary import EmbeddingSource, values

__all__ = ["EmbedJobConfig", "EmbedSummary", "run_embed"]

log = logging.getLogger(f"facelake.{__name__}")

_SOURCES = values(EmbeddingSource)


@dataclass(frozen=True)
class EmbedJobConfig:
    """What `facelake embed` computes, and with how many Ray actors.

    Raises:
        UsageError: a value out of range (named by its field: `every_k`, `workers`, ...).
    """

    embedder: EmbedderConfig
    source: EmbeddingSource = EmbeddingSource.FRAMES
    where: str | None = None
    every_k: int = 1
    workers: int = 2
    gpus_per_worker: float = 0.0
    commit_rows: int = 2048  # vectors per Delta commit

    def __post_init__(self) -> None:
        require(self.source in _SOURCES, f"{self.source!r} is not one of {', '.join(_SOURCES)}", option="source")
        require(self.every_k >= 1, f"must be >= 1, got {self.every_k}", option="every_k")
        require(
            self.every_k == 1 or self.source == EmbeddingSource.FRAMES,
            "applies to video frames; photos are embedded one by one",
            option="every_k",
        )
        require(self.workers >= 1, f"must be >= 1, got {self.workers}", option="workers")
        require(
            0.0 <= self.gpus_per_worker <= 8.0,
            f"must be in [0, 8], got {self.gpus_per_worker}",
            option="gpus_per_worker",
        )
        require(self.commit_rows >= 1, f"commit_rows must be >= 1, got {self.commit_rows}")


@dataclass
class EmbedSummary:
    """What one `run_embed` did; `lines()` is the job's summary."""

    run_id: str
    model: str = ""
    source: str = ""
    faces_to_embed: int = 0
    embedded: int = 0
    stale_deleted: int = 0
    elapsed_s: float = 0.0

    def lines(self) -> list[str]:
        rate = self.embedded / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return [
            f"run {self.run_id}: model {self.model}, source {self.source}",
            f"faces: {self.faces_to_embed} lacked a current vector, {self.embedded} embedded "
            f"({rate:.1f} faces/s), {self.stale_deleted} stale vectors deleted",
            f"elapsed {self.elapsed_s:.1f} s",
        ]


def run_embed(
    *, lake: Lake, config: EmbedJobConfig, address: str | None = None, run_id: str | None = None
) -> EmbedSummary:
    """Embed every face of `config.source` that lacks a current vector for the model, as one recorded run.

    Args:
        address: the Ray cluster (None: a local Ray with `config.workers` CPUs).
        run_id: the run's id (None: a new one).

    Returns:
        The run's summary (also recorded as the run's counts).

    Raises:
        UsageError: `config.where` is not a valid filter on the source table.
        RuntimeError: the embedding model could not be loaded.
    """
    started = time.perf_counter()
    run_id = run_id or new_run_id("embed")
    for spec in (EMBEDDINGS, RUNS):
        lake.ensure(spec)
    summary = EmbedSummary(run_id=run_id, source=config.source)

    def stop_clock(error: BaseException | None) -> None:
        summary.elapsed_s = time.perf_counter() - started

    with recorded_run(
        lake,
        job="embed",
        source=config.source,
        args={"config": asdict(config), "address": address},
        run_id=run_id,
        counts=lambda: asdict(summary),
        on_end=stop_clock,
    ):
        _embed(lake, config, address, run_id, summary)
    refresh_catalog_if_local(lake)
    return summary


def _key_predicate(source: str, model: str, keys: list[str]) -> str:
    return f"source = {sql_string(source)} AND model = {sql_string(model)} AND {in_predicate('face_key', keys)}"


def _rows(
    batch: pa.RecordBatch, vectors: np.ndarray, *, source: str, model: str, version: str, run_id: str
) -> pa.Table:
    table = pa.Table.from_batches([batch]).select(list(METADATA_COLUMNS))
    n, dim = vectors.shape
    now = datetime.now(timezone.utc)
    values = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), type=pa.float32()), dim).cast(
        pa.list_(pa.float32())
    )
    extra = {
        "source": pa.array([source] * n, type=pa.string()),
        "model": pa.array([model] * n, type=pa.string()),
        "model_version": pa.array([version] * n, type=pa.string()),
        "dim": pa.array([dim] * n, type=pa.int32()),
        "vector": values,
        "run_id": pa.array([run_id] * n, type=pa.string()),
        "created_at": pa.array([now] * n, type=pa.timestamp("us", tz="UTC")),
    }
    for name, column in extra.items():
        table = table.append_column(name, column)
    return table


def _root_cause(error: Exception) -> str:
    """The original exception line of a Ray actor's creation error (its text is a whole traceback)."""
    lines = [line.strip() for line in str(error).splitlines()]
    causes = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception): ", line)]
    return causes[-1] if causes else lines[0]


def _embed(lake: Lake, config: EmbedJobConfig, address: str | None, run_id: str, summary: EmbedSummary) -> None:
    ray = init_ray(address=address, num_cpus=config.workers)
    from etl.embed.stage import EmbedStage

    actor_class = ray.remote(EmbedStage).options(num_cpus=1, num_gpus=config.gpus_per_worker or None)
    actors = [actor_class.remote(config.embedder) for _ in range(config.workers)]
    try:
        # the model id (from the first actor: the driver never loads the model) keys the plan
        model, version, _ = ray.get(actors[0].info.remote())
    except ray.exceptions.RayActorError as error:
        raise RuntimeError(
            f"could not load the embedding model {config.embedder.backend!r}: {_root_cause(error)}"
        ) from error
    summary.model = model
    connection = connect(lake)
    try:
        check_where(connection, config.where, config.source)
        stale = [r[0] for r in connection.sql(stale_query(config.source), params={"model": model}).fetchall()]
        if stale:
            lake.replace_where(
                EMBEDDINGS, EMBEDDINGS.schema.empty_table(), predicate=_key_predicate(config.source, model, stale)
            )
            summary.stale_deleted = len(stale)
            log.info("deleted %d stale vectors (faces no longer in %s)", len(stale), config.source)
        todo = todo_query(config.source, where=config.where, every_k=config.every_k)
        count = connection.execute(f"SELECT count(*) FROM ({todo})", {"model": model}).fetchone()
        summary.faces_to_embed = int(count[0])
        log.info("%d %s faces need a %s vector", summary.faces_to_embed, config.source, model)
        # streamed in batches: the aligned PNGs of a big lake need not fit in the driver's memory
        reader = connection.execute(todo, {"model": model}).fetch_record_batch(config.embedder.batch_size)
        _run_actors(
            ray, actors, reader, lake=lake, config=config, model=model, version=version, run_id=run_id, summary=summary
        )
    finally:
        connection.close()


def _run_actors(
    ray,
    actors,
    reader,
    *,
    lake: Lake,
    config: EmbedJobConfig,
    model: str,
    version: str,
    run_id: str,
    summary: EmbedSummary,
) -> None:
    idle = deque(actors)
    in_flight: dict = {}  # ref -> (actor, batch)
    pending: list[pa.Table] = []
    batches = iter(reader)
    exhausted = False

    def commit() -> None:
        if not pending:
            return
        rows = pa.concat_tables(pending)
        lake.replace_where(
            EMBEDDINGS, rows, predicate=_key_predicate(config.source, model, rows.column("face_key").to_pylist())
        )
        summary.embedded += rows.num_rows
        log.info("%d / %d faces embedded", summary.embedded, summary.faces_to_embed)
        pending.clear()

    try:
        while True:
            while idle and not exhausted:
                batch = next(batches, None)
                if batch is None:
                    exhausted = True
                    break
                if batch.num_rows == 0:
                    continue
                actor = idle.popleft()
                in_flight[actor.__call__.remote(batch.column("aligned").to_pylist())] = (actor, batch)
            if not in_flight:
                break
            done, _ = ray.wait(list(in_flight), num_returns=1)
            actor, batch = in_flight.pop(done[0])
            idle.append(actor)
            pending.append(
                _rows(batch, ray.get(done[0]), source=config.source, model=model, version=version, run_id=run_id)
            )
            if sum(t.num_rows for t in pending) >= config.commit_rows:
                commit()
        commit()
    except KeyboardInterrupt:
        log.warning("interrupted: committing finished batches, abandoning %d in flight", len(in_flight))
        commit()
        raise
