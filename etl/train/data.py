"""Training's faces at SiW scale: a small index on the driver, image bytes only inside Ray Data.

The driver reads the `frames` table's small columns (no `aligned`, no `crop`) at a pinned
version: enough to split a protocol, count classes and pick samples. The faces themselves
are read by Ray Data tasks straight from that version's Parquet files, projected to four
columns and filtered to `det_status = 'ok'` in the read, then joined there to the part's
keys (video_id, frame_index, target). What reaches the driver is the index and, after
training, one score per face: its memory does not grow with the images.

Shuffling: the training part gets Ray Data's distributed `random_shuffle` (seeded) before
Ray Train splits it among workers, so every worker sees both classes in the part's
proportion (frames are stored sorted by video and partitioned by label: file order alone
would give a worker mostly one class, and BatchNormalization normalises each worker's
batch on its own).
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl.lake.lake import Lake
from schemas import FRAMES
from schemas.vocabulary import DetStatus, Label

log = logging.getLogger(f"facelake.{__name__}")

KEY = ["video_id", "frame_index"]
INDEX_COLUMNS = [
    "video_id",
    "frame_index",
    "split",
    "label",
    "attack_type",
    "subject",
    "medium",
    "det_status",
    "sharpness_count",
]
FACE_COLUMNS = ["video_id", "frame_index", "det_status", "aligned"]  # what a read task takes from each file


def read_frame_index(lake: Lake, *, min_sharpness: int | None) -> tuple[pa.Table, int]:
    """The `ok` frames' small columns at the table's current version (returned: training pins it)."""
    version = lake.version(FRAMES)
    if version is None:
        raise ValueError(f"the lake at {lake.root} has no frames table; run facelake ingest first")
    index = lake.read(FRAMES, columns=INDEX_COLUMNS, filters=[("det_status", "=", DetStatus.OK)], version=version)
    if min_sharpness is not None:
        index = index.filter(pc.greater_equal(index.column("sharpness_count"), min_sharpness))
    return index, version


def with_target(part: pa.Table) -> pa.Table:
    """`part` with a `target` column: 1 for spoof, 0 for live."""
    return part.append_column("target", pc.cast(pc.equal(part.column("label"), Label.SPOOF), pa.int32()))


def evenly_spaced(part: pa.Table, count: int) -> pa.Table:
    """At most `count` rows spread evenly over `part` (not its first rows, which may all be one video)."""
    if part.num_rows <= count:
        return part
    return part.take(np.unique(np.linspace(0, part.num_rows - 1, count).astype(int)))


def _version_files(lake: Lake, version: int, splits: set[str]) -> tuple[list[str], object]:
    """The Parquet files of `frames` at `version` in the given `split` partitions, and their filesystem."""
    from etl.lake.storage import S3_SCHEMES, arrow_path, arrow_s3_filesystem, scheme

    files = [uri for uri in lake.file_uris(FRAMES, version=version) if any(f"/split={s}/" in uri for s in splits)]
    if lake.is_local or scheme(lake.root) not in S3_SCHEMES:
        return [uri.removeprefix("file://") for uri in files], None
    return [arrow_path(uri) for uri in files], arrow_s3_filesystem(lake.storage_options)


def _join_to_keys(batch: pa.Table, keys_ref, columns: list[str]) -> pa.Table:
    """The batch's rows that belong to the part (inner join on the key), with the part's target."""
    import ray

    keys = ray.get(keys_ref)
    joined = batch.select(["video_id", "frame_index", "aligned"]).join(keys, keys=KEY, join_type="inner")
    return joined.select(columns)


def faces_dataset(ray, lake: Lake, version: int, part: pa.Table, *, columns: list[str]):
    """A Ray Dataset of `part`'s faces (`part`: index rows with the key and `split`), with `columns`:
    video_id, frame_index, aligned, and any column of `part` (training's `target`) carried along.
    Nothing of it passes through the driver."""
    splits = set(pc.unique(part.column("split")).to_pylist()) if part.num_rows else set()
    files, filesystem = _version_files(lake, version, splits)
    keys = part.select([*KEY, *(c for c in columns if c not in (*KEY, "aligned"))])
    if not files or not keys.num_rows:
        types = {**_TYPES, **{f.name: f.type for f in keys.schema}}
        return ray.data.from_arrow(pa.table({c: pa.array([], types[c]) for c in columns}))
    from ray.data.expressions import col

    # a predicate expression: Ray Data pushes it into the Parquet read
    dataset = ray.data.read_parquet(files, filesystem=filesystem, columns=FACE_COLUMNS, partitioning=None)
    dataset = dataset.filter(expr=col("det_status") == DetStatus.OK)
    return dataset.map_batches(
        _join_to_keys, batch_format="pyarrow", fn_kwargs={"keys_ref": ray.put(keys), "columns": columns}
    )


_TYPES = {"video_id": pa.string(), "frame_index": pa.int32(), "aligned": pa.binary(), "target": pa.int32()}


def training_dataset(ray, lake: Lake, version: int, part: pa.Table, *, seed: int):
    """The training part's (aligned, target) rows in a seeded random order, for Ray Train to split."""
    return faces_dataset(ray, lake, version, part, columns=["aligned", "target"]).random_shuffle(seed=seed)


class KerasFaceScorer:
    """A Ray Data actor: loads the Keras model once, scores batches of aligned faces (spoof probability)."""

    def __init__(self, model_path: str, input_size: int) -> None:
        from etl.train.model import load_model

        self.model, self.input_size = load_model(model_path), input_size

    def __call__(self, batch: pa.Table) -> pa.Table:
        from etl.train.evaluate import faces_of
        from etl.train.export import keras_scores

        scores = keras_scores(self.model, faces_of(batch, self.input_size))
        return pa.table(
            {
                "video_id": batch.column("video_id"),
                "frame_index": batch.column("frame_index"),
                "score": pa.array(scores, pa.float32()),
            }
        )


def score_part(
    ray,
    lake: Lake,
    version: int,
    part: pa.Table,
    *,
    model_path: str,
    input_size: int,
    workers: int,
    use_gpu: bool = False,
) -> np.ndarray:
    """Spoof scores of every row of `part` (in `part`'s order), computed by `workers` Ray Data actors.

    Only (video_id, frame_index, score) comes back to the driver. Raises when a face is
    scored twice or not at all: the lake changed under a pinned version, or a read lost rows.
    """
    faces = faces_dataset(ray, lake, version, part, columns=["video_id", "frame_index", "aligned"])
    scored = faces.map_batches(
        KerasFaceScorer,
        batch_format="pyarrow",
        batch_size=256,
        fn_constructor_kwargs={"model_path": model_path, "input_size": input_size},
        concurrency=(1, max(1, workers)),
        num_cpus=1,
        num_gpus=1 if use_gpu else 0,
    )
    scores = scored.to_arrow_refs()
    table = pa.concat_tables(ray.get(scores)) if scores else pa.table({"video_id": [], "frame_index": [], "score": []})
    order = part.select(KEY).append_column("position", pa.array(np.arange(part.num_rows), pa.int64()))
    joined = order.join(table, keys=KEY, join_type="inner")
    if joined.num_rows != part.num_rows or table.num_rows != part.num_rows:
        raise RuntimeError(
            f"scoring returned {table.num_rows} scores for {part.num_rows} faces at frames version "
            f"{version}; rerun training"
        )
    out = np.empty(part.num_rows, dtype=np.float32)
    out[joined.column("position").to_numpy()] = joined.column("score").to_numpy()
    return out
