"""Data files written straight into a table's storage by the process that made the rows.

A Ray worker that has a video's frames (or a batch of photos) writes them here as Parquet
files, in the table's own layout (`split=train/label=live/part-00000-<uuid>-c000.parquet`) and with
its writer settings, and hands back only a `StagedFile`: path, size, partition values and
Delta statistics. Nothing reads a staged file until the driver commits it
(`Lake.replace_files`): readers see only the files a Delta version lists, so a file
written by a task whose run died before committing is never read, and `maintain`'s
vacuum deletes it once it is older than the retention.

This module knows Parquet and the storage, not Delta (only `etl.lake.lake` imports deltalake).
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl.lake.rows import cast_to_spec, in_predicate
from schemas import TableSpec

if TYPE_CHECKING:
    from etl.lake.lake import Lake

# rows per Parquet row group in tables with image bytes: a rewrite streams one group at a time
BLOB_ROW_GROUP_ROWS = 2048
# what delta-rs writes with the table's writer properties (none: PNG and JPEG bytes do not compress), so
# staged files and delta-rs's own look alike
COMPRESSION = "NONE"


# Concurrent commits of the same keys are told apart by Delta application transactions, one per
# bucket of keys: a bucket (not the key itself) so that the log's state stays bounded and never
# names a person (`facelake forget` must leave no name in the log); two commits sharing a
# bucket by chance only make the later one plan again.
KEY_BUCKETS = 16384


def key_buckets(values) -> list[int]:
    """The buckets of these key values (stable across processes and Python versions)."""
    import hashlib

    return sorted(
        {int.from_bytes(hashlib.blake2b(v.encode(), digest_size=8).digest(), "big") % KEY_BUCKETS for v in values}
    )


@dataclass(frozen=True)
class StagedFile:
    """A Parquet file in a table's folder that no Delta version lists yet."""

    path: str  # relative to the table's root, '/'-separated, as the Delta log names it
    size: int
    partition_values: dict[str, str]
    num_records: int
    stats: str  # Delta statistics JSON: numRecords, minValues, maxValues, nullCount
    modification_time: int  # ms since the epoch


@dataclass(frozen=True)
class WrittenRows:
    """What a worker hands back for rows it was to write: where they went, and their columns without image bytes."""

    rows: pa.Table  # all columns when `files` is None (not written: a lake workers cannot write to)
    files: tuple[StagedFile, ...] | None


def write_rows(lake: "Lake", spec: TableSpec, rows: pa.Table) -> WrittenRows:
    """`rows` written as staged files where the lake allows it (the caller then keeps no image bytes)."""

    if not can_stage(lake):
        return WrittenRows(rows=rows, files=None)
    files = tuple(write_staged(lake, spec, cast_to_spec(rows, spec)))
    return WrittenRows(rows=rows.drop_columns([c for c in spec.blob_columns if c in rows.column_names]), files=files)


def commit_rows(lake: "Lake", spec: TableSpec, *, key: str, parts: list[WrittenRows]) -> pa.Table:
    """One commit replacing the rows of every key in `parts` by theirs; returns their rows (without image bytes
    where written). Parts not yet written (status-only rows made by the driver) are written here."""
    rows = pa.concat_tables([p.rows for p in parts]) if parts else spec.schema.empty_table()
    if rows.num_rows == 0:
        return rows
    unwritten = [p.rows for p in parts if p.files is None]
    replace_keys(
        lake,
        spec,
        key=key,
        keys=rows.column(key).to_pylist(),
        rows=pa.concat_tables(unwritten) if unwritten else None,
        staged=[f for p in parts if p.files is not None for f in p.files],
    )
    return rows


def replace_keys(
    lake: "Lake", spec: TableSpec, *, key: str, keys: list[str], rows: pa.Table | None, staged: Sequence[StagedFile]
) -> None:
    """One commit making `staged` plus `rows` (written here) every row of `spec` whose `key` is in `keys`:
    as files where workers can write to the lake (`Lake.replace_files`), else a predicate overwrite."""

    if lake.stages_files:
        written = write_staged(lake, spec, cast_to_spec(rows, spec)) if rows is not None else []
        lake.replace_files(spec, key=key, values=keys, staged=[*staged, *written])
        return
    if staged:
        raise ValueError(f"staged files given for {lake.root}, whose workers cannot write files")
    lake.replace_where(spec, rows if rows is not None else spec.schema.empty_table(), predicate=in_predicate(key, keys))


@dataclass(frozen=True)
class DataFile:
    """A file a table's current version lists."""

    path: str
    size: int
    partition_values: dict[str, str | None]


def filesystem_and_base(lake: "Lake", spec: TableSpec):
    """(pyarrow filesystem, the table's root as that filesystem names it)."""
    from pyarrow.fs import LocalFileSystem

    from etl.lake.storage import S3_SCHEMES, arrow_path, arrow_s3_filesystem, scheme

    if lake.is_local:
        return LocalFileSystem(), lake.uri(spec).rstrip("/")
    if scheme(lake.root) in S3_SCHEMES:
        return arrow_s3_filesystem(lake.storage_options), arrow_path(lake.uri(spec)).rstrip("/")
    raise ValueError(f"staged writes support local and s3:// lakes, not {lake.root}")


def _located(lake: "Lake", spec: TableSpec, path: str):
    """(filesystem, full path) of a file named relative to the table's root, as the Delta log names it."""
    from urllib.parse import unquote

    filesystem, base = filesystem_and_base(lake, spec)
    return filesystem, f"{base}/{unquote(path)}"


def can_stage(lake: "Lake") -> bool:
    from etl.lake.storage import S3_SCHEMES, scheme

    return lake.is_local or scheme(lake.root) in S3_SCHEMES


def write_staged(lake: "Lake", spec: TableSpec, rows: pa.Table) -> list[StagedFile]:
    """Write `rows` (already cast to the spec) into the table's storage: one file per partition."""
    if rows.num_rows == 0:
        return []
    filesystem, base = filesystem_and_base(lake, spec)
    if not spec.partition_by:
        return [_write_file(filesystem, base, spec, rows, {})]
    keys = rows.select(list(spec.partition_by))
    groups = keys.group_by(list(spec.partition_by)).aggregate([]).to_pylist()
    staged = []
    for values in sorted(groups, key=lambda v: tuple(str(x) for x in v.values())):
        mask = None
        for name, value in values.items():
            term = pc.equal(rows.column(name), pa.scalar(value, rows.schema.field(name).type))
            mask = term if mask is None else pc.and_(mask, term)
        part = rows.filter(mask).drop_columns(list(spec.partition_by))
        staged.append(_write_file(filesystem, base, spec, part, {k: str(v) for k, v in values.items()}))
    return staged


def _partition_dir(partition_values: dict[str, str | None]) -> str:
    return "/".join(
        f"{name}={quote(value, safe='') if value is not None else '__HIVE_DEFAULT_PARTITION__'}"
        for name, value in partition_values.items()
    )


def _new_file_path(partition_values: dict[str, str | None]) -> str:
    """A fresh file name in the partition's folder, named as delta-rs names its own."""
    folder = _partition_dir(partition_values)
    name = f"part-00000-{uuid.uuid4()}-c000.parquet"
    return f"{folder}/{name}" if folder else name


def _write_file(filesystem, base: str, spec: TableSpec, rows: pa.Table, partition_values: dict[str, str]) -> StagedFile:
    relative = _new_file_path(partition_values)
    full = f"{base}/{relative}"
    _make_parent(filesystem, full)
    plain = [name for name in rows.column_names if name not in spec.blob_columns]
    with filesystem.open_output_stream(full) as sink:
        pq.write_table(
            rows,
            sink,
            compression=COMPRESSION,
            use_dictionary=plain,
            write_statistics=plain,
            row_group_size=BLOB_ROW_GROUP_ROWS if spec.blob_columns else None,
        )
    size = filesystem.get_file_info(full).size
    return StagedFile(
        path=relative,
        size=int(size),
        partition_values=dict(partition_values),
        num_records=rows.num_rows,
        stats=delta_stats(rows, skip=spec.blob_columns),
        modification_time=int(time.time() * 1000),
    )


def _make_parent(filesystem, path: str) -> None:
    """A local file's folder; an object store has none to make (pyarrow would write a marker object)."""
    from pyarrow.fs import LocalFileSystem

    if isinstance(filesystem, LocalFileSystem):
        filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)


def rewrite_without(lake: "Lake", spec: TableSpec, file: DataFile, *, key: str, values: list[str]) -> StagedFile | None:
    """A new file holding `file`'s rows whose `key` is not in `values` (None when none is left).

    Streams one row group at a time, so a compacted file of images is never whole in memory.
    The rows keep the file's own columns (an older file may lack newer ones; readers fill nulls).
    """
    filesystem, source = _located(lake, spec, file.path)
    drop = pa.array(sorted(set(values)), type=pa.string())
    relative = _new_file_path(file.partition_values)
    target = _located(lake, spec, relative)[1]
    kept_batches = 0
    stats_parts: list[pa.Table] = []  # the kept rows without blob columns, for the statistics
    with filesystem.open_input_file(source) as handle:
        parquet = pq.ParquetFile(handle)
        schema = parquet.schema_arrow
        plain = [name for name in schema.names if name not in spec.blob_columns]
        writer = None
        try:
            for batch in parquet.iter_batches(batch_size=BLOB_ROW_GROUP_ROWS):
                kept = batch.filter(pc.invert(pc.is_in(batch.column(key), value_set=drop)))
                if kept.num_rows == 0:
                    continue
                if writer is None:
                    _make_parent(filesystem, target)
                    writer = pq.ParquetWriter(
                        filesystem.open_output_stream(target),
                        schema,
                        compression=COMPRESSION,
                        use_dictionary=plain,
                        write_statistics=plain,
                    )
                writer.write_batch(kept, row_group_size=BLOB_ROW_GROUP_ROWS)
                stats_parts.append(pa.Table.from_batches([kept.select(plain)]))
                kept_batches += 1
        finally:
            if writer is not None:
                writer.close()
    if not kept_batches:
        return None
    kept_rows = pa.concat_tables(stats_parts)
    return StagedFile(
        path=relative,
        size=int(filesystem.get_file_info(target).size),
        partition_values={k: v for k, v in file.partition_values.items() if v is not None},
        num_records=kept_rows.num_rows,
        stats=delta_stats(kept_rows, skip=spec.blob_columns),
        modification_time=int(time.time() * 1000),
    )


def delta_stats(rows: pa.Table, *, skip: tuple[str, ...] = ()) -> str:
    """Delta's per-file statistics: exact min/max of the plain scalar columns, null counts of all but `skip`.

    Delta readers (and delta-rs's predicate deletes and overwrites) skip files by these
    numbers, so they must be exact or absent: a float column holding NaN gets none.
    """
    minimum, maximum, nulls = {}, {}, {}
    for name in rows.column_names:
        if name in skip:
            continue
        column = rows.column(name)
        field_type = column.type
        if pa.types.is_struct(field_type):
            continue  # Delta nests struct statistics; leaving them out only costs skipping
        nulls[name] = column.null_count
        if not _has_min_max(field_type) or column.null_count == len(column):
            continue
        if pa.types.is_floating(field_type) and pc.any(pc.is_nan(column)).as_py():
            continue
        bounds = pc.min_max(column)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if isinstance(low, float) and (math.isinf(low) or math.isinf(high)):
            continue  # JSON has no infinity
        minimum[name], maximum[name] = low, high
    return json.dumps(
        {"numRecords": rows.num_rows, "minValues": minimum, "maxValues": maximum, "nullCount": nulls},
        separators=(",", ":"),
    )


def _has_min_max(field_type: pa.DataType) -> bool:
    # numbers and text only: leaving a column's bounds out is always correct, a misread bound never is
    return (
        pa.types.is_integer(field_type)
        or pa.types.is_floating(field_type)
        or pa.types.is_string(field_type)
        or pa.types.is_large_string(field_type)
    )


def read_data_file(lake: "Lake", spec: TableSpec, path: str, columns: list[str]) -> pa.Table:
    """`columns` of one file in the table's folder (listed by a version or not), partition columns from its path."""
    from urllib.parse import unquote

    filesystem, full = _located(lake, spec, path)
    partitions = dict(part.split("=", 1) for part in path.split("/")[:-1] if "=" in part)
    in_file = [c for c in columns if c not in spec.partition_by]
    with filesystem.open_input_file(full) as handle:
        present = set(pq.read_schema(handle).names)
        handle.seek(0)
        table = pq.read_table(handle, columns=[c for c in in_file if c in present])
    for name in columns:
        if name not in table.column_names:
            field = spec.schema.field(name)
            value = unquote(partitions[name]) if name in partitions else None
            table = table.append_column(field.with_nullable(True), pa.array([value] * table.num_rows, field.type))
    return table.select(columns)


def delete_data_file(lake: "Lake", spec: TableSpec, path: str) -> None:
    filesystem, full = _located(lake, spec, path)
    filesystem.delete_file(full)


def stored_data_files(lake: "Lake", spec: TableSpec) -> list[str]:
    """Every Parquet file in the table's folder (listed by a version or not), relative to it; the log aside."""
    from pyarrow.fs import FileSelector, FileType

    filesystem, base = filesystem_and_base(lake, spec)
    root = base.rstrip("/")
    infos = filesystem.get_file_info(FileSelector(root, recursive=True, allow_not_found=True))
    relative = (info.path[len(root) + 1 :] for info in infos if info.type == FileType.File)
    return sorted(
        path for path in relative if path.endswith(".parquet") and not path.split("/", 1)[0].startswith(("_", "."))
    )
