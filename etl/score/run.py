"""`run_score`: the orchestration of `facelake score` (records the run, starts Ray, commits).

The driver plans with small columns only: the model's parts (`model_parts`) and the keys and
label columns of the faces lacking a current score (`plan`). Ray Data reads those faces' aligned
PNGs from the frames table's Parquet files, joins them to the keys in its read tasks, and
`ScoreStage` actors (one model load each, a GPU each with `gpus_per_worker`) score them; only
scores come back to the driver, which commits every `commit_rows` of them. Each commit replaces
exactly the (train_id, face) keys it carries, so a rerun, or a rerun after a crash, adds nothing
twice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from etl.embed.plan import check_where
from etl.errors import require
from etl.lake.catalog import refresh_catalog_if_local
from etl.lake.lake import Lake
from etl.lake.query import connect
from etl.lake.rows import in_predicate, sql_string
from etl.lake.runs import new_run_id, recorded_run
from etl.ray_runtime import init_ray
from etl.score.model_parts import ScoringModel, face_parts, scoring_model
from etl.score.plan import stale_query, todo_query
from etl.train.predict import MODEL_FILES, MODEL_FORMATS, ModelInfo, model_file
from schemas import FRAMES, RUNS, SCORES

__all__ = ["ScoreConfig", "ScoreSummary", "run_score"]

log = logging.getLogger(f"facelake.{__name__}")


@dataclass(frozen=True)
class ScoreConfig:
    """What `facelake score` scores, with which model export and how many Ray actors.

    Raises:
        UsageError: a value out of range (named by its field).
    """

    model: Path
    model_format: str = "keras"
    where: str | None = None
    workers: int = 2
    gpus_per_worker: float = 0.0
    batch_size: int = 256  # faces per model call
    commit_rows: int = 20000  # scores per Delta commit

    def __post_init__(self) -> None:
        require(
            self.model_format in MODEL_FILES,
            f"{self.model_format!r} is not one of {', '.join(MODEL_FORMATS)}",
            option="model_format",
        )
        require(self.workers >= 1, f"must be >= 1, got {self.workers}", option="workers")
        require(
            0.0 <= self.gpus_per_worker <= 8.0,
            f"must be in [0, 8], got {self.gpus_per_worker}",
            option="gpus_per_worker",
        )
        require(self.batch_size >= 1, f"must be >= 1, got {self.batch_size}", option="batch_size")
        require(self.commit_rows >= 1, f"commit_rows must be >= 1, got {self.commit_rows}")


@dataclass
class ScoreSummary:
    """What one `run_score` did; `lines()` is the job's summary."""

    run_id: str
    train_id: str = ""
    model_format: str = ""
    faces_to_score: int = 0
    scored: int = 0
    stale_deleted: int = 0
    by_part: dict | None = None  # faces scored per part
    elapsed_s: float = 0.0

    def lines(self) -> list[str]:
        rate = self.scored / self.elapsed_s if self.elapsed_s > 0 else 0.0
        parts = ", ".join(f"{part} {count}" for part, count in sorted((self.by_part or {}).items()))
        return [
            f"run {self.run_id}: model {self.train_id} ({self.model_format})",
            f"faces: {self.faces_to_score} lacked a current score, {self.scored} scored ({rate:.1f} faces/s)"
            + (f": {parts}" if parts else "")
            + f"; {self.stale_deleted} stale scores deleted",
            f"elapsed {self.elapsed_s:.1f} s",
        ]


def run_score(
    *, lake: Lake, config: ScoreConfig, address: str | None = None, run_id: str | None = None
) -> ScoreSummary:
    """Score every ok face (or those `config.where` chooses) lacking a current score of the model.

    Args:
        address: the Ray cluster (None: a local Ray with `config.workers` CPUs).

    Raises:
        ModelFilesError: the model folder lacks the export or metrics.json.
        UsageError: `config.where` is not a valid filter on frames; the folder is no train run's.
    """
    started = time.perf_counter()
    model_file(config.model, config.model_format)  # refuse before anything starts
    info = ModelInfo.from_folder(config.model)
    model = scoring_model(lake, config.model)
    run_id = run_id or new_run_id("score")
    for spec in (SCORES, RUNS):
        lake.ensure(spec)
    summary = ScoreSummary(run_id=run_id, train_id=model.train_id, model_format=config.model_format)

    def stop_clock(error: BaseException | None) -> None:
        summary.elapsed_s = time.perf_counter() - started

    with recorded_run(
        lake,
        job="score",
        source=str(config.model),
        args={"config": asdict(config), "address": address, "train_id": model.train_id},
        run_id=run_id,
        counts=lambda: asdict(summary),
        on_end=stop_clock,
    ):
        _score(lake, config, model, info, address, run_id, summary)
    refresh_catalog_if_local(lake)
    return summary


def _key_predicate(train_id: str, keys: list[str]) -> str:
    return f"train_id = {sql_string(train_id)} AND {in_predicate('face_key', keys)}"


_KEY_TYPES = {"video_id": pa.string(), "frame_index": pa.int32(), "split": pa.string()}


def _score(
    lake: Lake, config: ScoreConfig, model: ScoringModel, info: ModelInfo, address: str | None, run_id: str, summary
) -> None:
    parts = face_parts(lake, model)
    connection = connect(lake)
    try:
        check_where(connection, config.where, "frames")
        connection.register("model_parts", parts)
        params = {"train_id": model.train_id}
        stale = [r[0] for r in connection.execute(stale_query(), params).fetchall()]
        if stale:
            lake.replace_where(SCORES, SCORES.schema.empty_table(), predicate=_key_predicate(model.train_id, stale))
            summary.stale_deleted = len(stale)
            log.info("deleted %d stale scores (faces no longer ok frames)", len(stale))
        todo = connection.execute(
            todo_query(where=config.where), {**params, "model_format": config.model_format}
        ).fetch_arrow_table()
    finally:
        connection.close()
    todo = todo.cast(pa.schema([pa.field(f.name, _KEY_TYPES.get(f.name, f.type)) for f in todo.schema]))
    summary.faces_to_score = todo.num_rows
    log.info("%d faces need a score from %s", todo.num_rows, model.train_id)
    if todo.num_rows:
        _score_faces(lake, config, model, info, address, run_id, todo, summary)


def _score_faces(lake, config, model, info, address, run_id, todo: pa.Table, summary: ScoreSummary) -> None:
    from etl.score.stage import ScoreStage
    from etl.train.data import faces_dataset

    ray = init_ray(address=address, num_cpus=config.workers)
    columns = ["aligned", *todo.column_names]
    faces = faces_dataset(ray, lake, lake.version(FRAMES), todo, columns=columns)
    scored = faces.map_batches(
        ScoreStage,
        batch_format="pyarrow",
        batch_size=config.batch_size,
        fn_constructor_kwargs={"model_dir": str(config.model.resolve()), "model_format": config.model_format},
        concurrency=(1, config.workers),
        num_cpus=1,
        num_gpus=config.gpus_per_worker or None,
    )
    pending: list[pa.Table] = []
    by_part: dict[str, int] = {}

    def commit() -> None:
        if not pending:
            return
        rows = _score_rows(pa.concat_tables(pending), model=model, info=info, config=config, run_id=run_id)
        lake.replace_where(SCORES, rows, predicate=_key_predicate(model.train_id, rows.column("face_key").to_pylist()))
        summary.scored += rows.num_rows
        for entry in pc.value_counts(rows.column("part")).to_pylist():
            by_part[entry["values"]] = by_part.get(entry["values"], 0) + int(entry["counts"])
        summary.by_part = dict(by_part)
        log.info("%d / %d faces scored", summary.scored, summary.faces_to_score)
        pending.clear()

    try:
        for batch in scored.iter_batches(batch_format="pyarrow", batch_size=None):
            pending.append(batch)
            if sum(t.num_rows for t in pending) >= config.commit_rows:
                commit()
        commit()
    except KeyboardInterrupt:
        log.warning("interrupted: committing the scores in hand")
        commit()
        raise
    if summary.scored != summary.faces_to_score:
        raise RuntimeError(
            f"scored {summary.scored} of {summary.faces_to_score} faces: the frames table changed during the run; "
            "rerun facelake score to complete"
        )


def _score_rows(batch: pa.Table, *, model: ScoringModel, info: ModelInfo, config: ScoreConfig, run_id: str) -> pa.Table:
    n = batch.num_rows
    extra = {
        "train_id": pa.array([model.train_id] * n, pa.string()),
        "protocol": pa.array([model.protocol] * n, pa.string()),
        "threshold": pa.array([info.threshold] * n, pa.float64()),
        "model_format": pa.array([config.model_format] * n, pa.string()),
        "run_id": pa.array([run_id] * n, pa.string()),
        "created_at": pa.array([datetime.now(timezone.utc)] * n, pa.timestamp("us", tz="UTC")),
    }
    columns = {name: batch.column(name) for name in batch.column_names}
    columns.update(extra)
    return pa.table({f.name: columns[f.name] for f in SCORES.schema}).cast(SCORES.schema)
