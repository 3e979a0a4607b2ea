"""The lake: every Delta read and write goes through here (the only module importing deltalake).

Writes are cast to the table's schema first, with an explicit mode: `append`, or
`replace_where` (an atomic predicate overwrite, used to make per-video commits
idempotent: rerunning a video replaces its rows instead of adding a second copy).
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pyarrow as pa

from etl.errors import LakeStateError
from etl.lake.rows import cast_to_spec
from schemas import TableSpec

if TYPE_CHECKING:
    from etl.lake.files import StagedFile

log = logging.getLogger(f"facelake.{__name__}")

# delta-rs refuses custom table properties, so the schema version lives in the table's
# description, written when the table is created: "facelake <name> schema v<N>".
DESCRIPTION_PATTERN = re.compile(r"^facelake (?P<name>\w+) schema v(?P<version>\d+)$")


def table_description(spec: TableSpec) -> str:
    return f"facelake {spec.name} schema v{spec.version}"


@dataclass(frozen=True)
class CompactResult:
    files_added: int
    files_removed: int
    partitions_optimized: int
    bytes_added: int
    bytes_removed: int


@dataclass(frozen=True)
class VacuumResult:
    paths: list[str]  # relative to the table's folder, as delta-rs names them
    bytes: int | None  # None where delta-rs did not say (a dry run on an object store)


class LakeError(LakeStateError):
    """A lake table cannot be used as asked (missing, or from a newer facelake)."""


class LakeNotFoundError(LakeError, FileNotFoundError):
    """The path holds no facelake lake (no folder, or no Delta table of facelake's under it)."""


# besides its tables' folders, what a lake folder may hold
LAKE_FILES = ("catalog.duckdb", "catalog.duckdb.wal")


COMMIT_ATTEMPTS = 8


def _commit_failed(error: BaseException) -> bool:
    """A commit another writer won (delta-rs's conflict checker, or version N already taken)."""
    from deltalake.exceptions import CommitFailedError

    return isinstance(error, CommitFailedError)


def _with_commit_retries(what: str, commit):
    """Run `commit` again, on the table's newest version, when a concurrent writer won the race.

    Only for idempotent commits: an append of fresh rows, a predicate overwrite (it
    replaces whatever the other writer put under the same predicate), a delete.
    """
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            return commit()
        except Exception as error:  # noqa: BLE001 - filtered just below
            if not _commit_failed(error) or attempt == COMMIT_ATTEMPTS:
                raise
            delay = min(2.0, 0.05 * 2**attempt) * (0.5 + random.random())
            log.info(
                "%s: a concurrent commit won (%s); retrying on the new version in %.2f s (attempt %d of %d)",
                what,
                str(error).splitlines()[0],
                delay,
                attempt + 1,
                COMMIT_ATTEMPTS,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


def _writer_properties(spec: TableSpec):
    if not spec.blob_columns:
        return None
    from deltalake import ColumnProperties, WriterProperties

    blob = ColumnProperties(dictionary_enabled=False, statistics_enabled="NONE")
    from etl.lake.files import BLOB_ROW_GROUP_ROWS

    # small row groups: a rewrite of a file of images (`replace_files`) streams one group at a time
    return WriterProperties(
        column_properties={name: blob for name in spec.blob_columns}, max_row_group_size=BLOB_ROW_GROUP_ROWS
    )


@dataclass(frozen=True)
class Lake:
    """A lake root (local folder or object-store URI) holding one Delta table per spec.

    `storage_options` reach an object store (see `etl.lake.storage`); they hold secrets, so
    the repr leaves them out. Jobs build their lake with `Lake.open`, which takes them
    from the environment and `FACELAKE_STORAGE_OPTIONS`.
    """

    root: str
    storage_options: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.root:
            raise ValueError("lake root is empty; pass a folder path or an s3:// URI")
        if "://" not in self.root:
            object.__setattr__(self, "root", os.path.abspath(self.root))

    @classmethod
    def open(cls, root: str, *, environ=None, create: bool = False) -> "Lake":
        """The lake at `root` (a folder, or `s3://bucket/prefix` with options from the environment).

        Without `create` the lake must exist (`LakeNotFoundError` otherwise: a mistyped path must
        not become a new, empty lake). With it (the jobs that build a lake from a source), the
        root may also be missing or an empty folder, never a file or a folder of other things.
        """
        from etl.lake.storage import resolve_storage_options

        if not root:
            raise ValueError("lake root is empty; pass a folder path or an s3:// URI")
        lake = cls(root, storage_options=resolve_storage_options(root, environ))
        if create:
            lake._check_can_create()
        elif not lake.has_tables():
            raise LakeNotFoundError(lake.not_found_message())
        lake.check_schema_versions()
        return lake

    def has_tables(self) -> bool:
        """Whether any facelake table exists under the root."""
        from schemas import ALL_TABLES

        if self.is_local and not os.path.isdir(self.root):
            return False
        return any(self.exists(spec) for spec in ALL_TABLES.values())

    def not_found_message(self) -> str:
        from schemas import ALL_TABLES

        if self.is_local and not os.path.exists(self.root):
            why = "no such folder"
        elif self.is_local and not os.path.isdir(self.root):
            why = "it is a file"
        elif self.is_local and os.path.isdir(os.path.join(self.root, "_delta_log")):
            why = f"it is one Delta table; the lake is its parent folder {os.path.dirname(self.root.rstrip('/'))}"
        else:
            why = f"none of its tables ({', '.join(ALL_TABLES)}) is there"
        return (
            f"no facelake lake at {self.root}: {why}; "
            "pass the lake root that `facelake ingest` or `facelake register` wrote"
        )

    def _check_can_create(self) -> None:
        """A new lake goes into a missing or empty folder (or one that is a lake already)."""
        if not self.is_local or not os.path.exists(self.root):
            return
        if not os.path.isdir(self.root):
            raise LakeError(
                f"cannot make a lake at {self.root}: it is a file; pass a folder (new or empty) or an existing lake"
            )
        if self.has_tables():
            return
        from schemas import ALL_TABLES

        others = sorted(name for name in os.listdir(self.root) if name not in LAKE_FILES and name not in ALL_TABLES)
        if others:
            shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
            raise LakeError(
                f"cannot make a lake at {self.root}: the folder holds other files ({shown}) and no "
                "facelake table; pass a new or empty folder, or an existing lake"
            )

    def check_schema_versions(self) -> None:
        """Raise `LakeError` if any table there was written by a newer facelake schema, before a job does any work."""
        from schemas import ALL_TABLES

        for spec in ALL_TABLES.values():
            if self.exists(spec):
                self._table(spec)

    @property
    def is_local(self) -> bool:
        return "://" not in self.root

    def _options(self) -> dict[str, str] | None:
        return dict(self.storage_options) if self.storage_options else None

    def uri(self, spec: TableSpec) -> str:
        return f"{self.root.rstrip('/')}/{spec.name}"

    def exists(self, spec: TableSpec) -> bool:
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(self.uri(spec), storage_options=self._options())

    def _table(self, spec: TableSpec, version: int | None = None):
        from deltalake import DeltaTable

        table = DeltaTable(self.uri(spec), version=version, storage_options=self._options())
        match = DESCRIPTION_PATTERN.match(table.metadata().description or "")
        written = int(match["version"]) if match else 1
        if written > spec.version:
            raise LakeError(
                f"table {spec.name!r} at {self.uri(spec)} has schema version {written}, newer than this "
                f"facelake's {spec.version}; upgrade facelake to read it"
            )
        return table

    def version(self, spec: TableSpec) -> int | None:
        return self._table(spec).version() if self.exists(spec) else None

    def read(
        self,
        spec: TableSpec,
        *,
        columns: Sequence[str] | None = None,
        filters: list[tuple] | None = None,
        filter=None,
        version: int | None = None,
    ) -> pa.Table:
        """The table's rows (empty with the spec's schema when the table does not exist yet).

        `filters`: `(column, "=", value)` tuples, ANDed; `filter`: any pyarrow expression, ANDed with them.
        """
        if not self.exists(spec):
            schema = spec.schema if columns is None else pa.schema([spec.schema.field(c) for c in columns])
            return schema.empty_table()
        dataset = self.dataset(spec, version=version)
        expression = filter
        if filters:
            import pyarrow.compute as pc

            for name, op, value in filters:
                if op != "=":
                    raise ValueError(f"Lake.read supports only '=' filters, got {op!r}")
                term = pc.field(name) == value
                expression = term if expression is None else expression & term
        missing = [c for c in (columns or spec.schema.names) if c not in dataset.schema.names]
        present = [c for c in (columns or spec.schema.names) if c in dataset.schema.names]
        table = self._scan(spec, dataset, columns=present, expression=expression)
        for name in missing:  # a column added to the spec after this table was written
            table = table.append_column(spec.schema.field(name), pa.nulls(table.num_rows, spec.schema.field(name).type))
        return table.select(list(columns or spec.schema.names))

    def _scan(self, spec: TableSpec, dataset, *, columns: list[str], expression) -> pa.Table:
        """The dataset's rows; on an object store, a transient error makes it read file by file,
        each file retried on its own (pyarrow does not retry some transient errors itself: see
        etl.lake.storage.with_read_retries), so one more fault elsewhere cannot undo the others' reads."""
        if self.is_local:
            return dataset.to_table(columns=columns, filter=expression)
        from etl.lake.storage import is_transient_read_error, with_read_retries

        try:
            return dataset.to_table(columns=columns, filter=expression)
        except Exception as error:  # noqa: BLE001 - filtered just below
            if not is_transient_read_error(error):
                raise
            log.warning(
                "read of %s: transient storage error (%s); reading file by file with retries",
                spec.name,
                str(error).splitlines()[0][:200],
            )
        parts = [
            with_read_retries(
                lambda f=fragment: f.to_table(schema=dataset.schema, columns=columns, filter=expression),
                options=self.storage_options,
                what=f"read of {spec.name} ({fragment.path})",
            )
            for fragment in dataset.get_fragments()
        ]
        return pa.concat_tables(parts) if parts else dataset.schema.empty_table().select(columns)

    def dataset(self, spec: TableSpec, *, version: int | None = None):
        """A pyarrow dataset of the table's files at `version` (for DuckDB and scans); the table must exist.

        Local and S3 tables are read by pyarrow's own Parquet dataset over the version's
        files (on S3 through pyarrow's S3FileSystem with the lake's storage options):
        delta-rs's `to_pyarrow_dataset` routes reads through a Python filesystem handler
        whose threads can still run when the interpreter exits, and the process then
        aborts ("terminate called without an active exception") instead of exiting.
        Other object stores (gs://, az://) use `to_pyarrow_dataset`.
        """
        from etl.lake.storage import S3_SCHEMES, arrow_path, arrow_s3_filesystem, scheme

        table = self._table(spec, version)
        files, base, filesystem = table.file_uris(), self.uri(spec), None
        if not self.is_local:
            if scheme(self.root) not in S3_SCHEMES:
                return table.to_pyarrow_dataset()
            filesystem = arrow_s3_filesystem(self.storage_options)
            files, base = [arrow_path(f) for f in files], arrow_path(base)
        import pyarrow.dataset as pds

        written = {f.name for f in table.schema().fields}
        columns = [f for f in spec.schema if f.name in written and f.name not in spec.partition_by]
        partitions = [spec.schema.field(name) for name in spec.partition_by]
        partitioning = pds.partitioning(pa.schema(partitions), flavor="hive") if partitions else None
        return pds.dataset(
            files,
            schema=pa.schema(columns + partitions),
            format="parquet",
            filesystem=filesystem,
            partitioning=partitioning,
            partition_base_dir=base,
        )

    def _write(self, spec: TableSpec, table: pa.Table, *, mode: str, predicate: str | None = None) -> None:
        rows = cast_to_spec(table, spec)
        _with_commit_retries(
            f"{mode} into {spec.name}", lambda: self._write_once(spec, rows, mode=mode, predicate=predicate)
        )

    def _write_once(self, spec: TableSpec, rows: pa.Table, *, mode: str, predicate: str | None) -> None:
        from deltalake import write_deltalake

        if mode == "overwrite" and not self.exists(spec):
            mode, predicate = "append", None  # created since the caller looked: nothing to replace yet
        schema_mode = None
        if self.exists(spec):
            existing = self._table(spec)  # refuses a table written by a newer facelake
            written = {f.name for f in existing.schema().fields}
            if any(name not in written for name in spec.schema.names):
                schema_mode = "merge"  # adds the columns this facelake has and the table lacks
        write_deltalake(
            self.uri(spec),
            rows,
            mode=mode,
            predicate=predicate,
            schema_mode=schema_mode,
            writer_properties=_writer_properties(spec),
            partition_by=list(spec.partition_by) or None,
            description=table_description(spec),
            storage_options=self._options(),
        )

    def append(self, spec: TableSpec, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._write(spec, table, mode="append")

    def replace_where(self, spec: TableSpec, table: pa.Table, *, predicate: str) -> None:
        """Atomically replace every row matching `predicate` with `table` (one Delta commit).

        Every row of `table` must itself match the predicate. With no rows, the matching
        rows are deleted.
        """
        if not self.exists(spec):
            if table.num_rows:
                self._write(spec, table, mode="append")
            return
        if table.num_rows == 0:
            # the table's writer properties here too: the files a delete rewrites must keep
            # blob columns free of dictionaries and min/max statistics like every other write
            _with_commit_retries(
                f"delete from {spec.name}",
                lambda: self._table(spec).delete(predicate, writer_properties=_writer_properties(spec)),
            )
            return
        self._write(spec, table, mode="overwrite", predicate=predicate)

    @property
    def stages_files(self) -> bool:
        """Whether workers can write this lake's data files themselves (`replace_files`): local and s3:// lakes."""
        from etl.lake.files import can_stage

        return can_stage(self)

    def replace_files(
        self,
        spec: TableSpec,
        *,
        key: str,
        values: Sequence[str],
        staged: Sequence["StagedFile"],
        read_version: int | None = None,
    ) -> None:
        """One commit: the `staged` files in, every current row whose `key` is in `values` out.

        A current file holding only such rows is removed; one that also holds other rows
        (a compacted file, or one from a batch write) is rewritten without them, streaming,
        by this process, and swapped in the same commit. Every staged row must itself have
        its `key` in `values`.

        Two writers replacing the same keys at once must not both add their files (a plain
        append never conflicts): each commit carries a Delta application transaction per
        bucket of its keys (`key_buckets`), so a commit that lands after another one with a
        shared bucket since its read version fails, and is planned again on the new version
        (removing the winner's files). `read_version`: plan the first attempt on that version.
        """
        values = sorted(set(values))
        if not values and not staged:
            return
        if not self.exists(spec):
            self.ensure(spec)
        attempts = iter([read_version])
        _with_commit_retries(
            f"commit of files into {spec.name}",
            lambda: self._replace_files_once(
                spec, key=key, values=values, staged=list(staged), version=next(attempts, None)
            ),
        )

    def _replace_files_once(
        self, spec: TableSpec, *, key: str, values: list[str], staged: list, version: int | None
    ) -> None:
        from deltalake.transaction import AddAction, CommitProperties, RemoveAction, Transaction

        from etl.lake.files import key_buckets, rewrite_without

        table = self._table(spec, version)  # one load per attempt: a commit's cost grows with the log
        if self._add_missing_columns(spec, table):
            table = self._table(spec)
        only_theirs, shared = self._files_holding(spec, table, key=key, values=values) if values else ([], [])
        # a staged file the table lists already was committed by an earlier call whose end its caller never saw
        # (SIGTERM between this commit and the next, a lost reply): it stays in, and is neither removed nor re-added
        listed = {f.path for f in staged}.intersection(f.path for f in [*only_theirs, *shared])
        staged = [f for f in staged if f.path not in listed]
        only_theirs = [f for f in only_theirs if f.path not in listed]
        shared = [f for f in shared if f.path not in listed]
        rewritten = [r for r in (rewrite_without(self, spec, f, key=key, values=values) for f in shared) if r]
        now = int(time.time() * 1000)
        actions = [
            AddAction(f.path, f.size, f.partition_values, f.modification_time, True, f.stats)
            for f in [*staged, *rewritten]
        ]
        actions += [RemoveAction(f.path, True, now, f.size, f.partition_values) for f in [*only_theirs, *shared]]
        if not actions:
            return
        claims = [Transaction(app_id=f"facelake-{spec.name}-{bucket}", version=now) for bucket in key_buckets(values)]
        table.create_write_transaction(
            actions,
            mode="append",
            schema=table.schema(),
            partition_by=list(spec.partition_by) or None,
            commit_properties=CommitProperties(app_transactions=claims),
        )
        log.debug(
            "%s: committed %d files, removed %d (%d rewritten without %d keys)",
            spec.name,
            len(staged) + len(rewritten),
            len(only_theirs) + len(shared),
            len(shared),
            len(values),
        )

    def unlisted_files(self, spec: TableSpec) -> list[str]:
        """Data files in the table's folder that the current version does not list (relative paths): files
        a job wrote and never committed, and those a commit removed that no vacuum has deleted yet."""
        from urllib.parse import unquote

        from etl.lake.files import stored_data_files

        listed = {
            unquote(path)
            for path in pa.table(self._table(spec).get_add_actions(flatten=True)).column("path").to_pylist()
        }
        return [path for path in stored_data_files(self, spec) if unquote(path) not in listed]

    def _add_missing_columns(self, spec: TableSpec, table) -> bool:
        """Add the spec's columns an older table lacks (as nullable), so staged files' columns are read.
        Whether it added any (a commit, so the caller loads the table again)."""
        written = {f.name for f in table.schema().fields}
        missing = [spec.schema.field(name) for name in spec.schema.names if name not in written]
        if missing:
            from deltalake.schema import Field

            table.alter.add_columns([Field.from_arrow(field.with_nullable(True)) for field in missing])
        return bool(missing)

    def _files_holding(self, spec: TableSpec, table, *, key: str, values: list[str]):
        """(files holding only rows whose `key` is in `values`, files holding such rows and others).

        Files are picked by their min/max statistics of `key`; a file that may hold one
        of the values and is not exactly one of them has its key column read to be sure.
        """
        import bisect

        from etl.lake.files import DataFile, read_data_file

        actions = pa.table(table.get_add_actions(flatten=True))
        names = set(actions.column_names)
        lows = actions.column(f"min.{key}").to_pylist() if f"min.{key}" in names else [None] * actions.num_rows
        highs = actions.column(f"max.{key}").to_pylist() if f"max.{key}" in names else [None] * actions.num_rows
        partitions = {name: actions.column(f"partition.{name}").to_pylist() for name in spec.partition_by}
        wanted = set(values)
        only_theirs, shared = [], []
        for i, (path, size) in enumerate(
            zip(actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist())
        ):
            low, high = lows[i], highs[i]
            if any(isinstance(bound, str) and len(bound) >= 32 for bound in (low, high)):
                low = high = None  # a writer may have cut long text bounds short: only reading the keys is sure
            if low is not None and high is not None:
                at = bisect.bisect_left(values, low)
                if at == len(values) or values[at] > high:
                    continue  # no value in [low, high]
            file = DataFile(
                path=path, size=int(size), partition_values={n: partitions[n][i] for n in spec.partition_by}
            )
            if low is not None and low == high and low in wanted:
                only_theirs.append(file)
                continue
            keys = set(read_data_file(self, spec, file.path, [key]).column(key).to_pylist())
            if not keys & wanted:
                continue
            (only_theirs if keys <= wanted else shared).append(file)
        return only_theirs, shared

    def ensure(self, spec: TableSpec) -> None:
        """Create the table empty if it does not exist, so readers find it."""
        if self.exists(spec):
            self._table(spec)  # version check
            return
        from deltalake import write_deltalake

        def create() -> None:
            if self.exists(spec):
                return  # another writer created it meanwhile
            write_deltalake(
                self.uri(spec),
                spec.schema.empty_table(),
                mode="append",
                partition_by=list(spec.partition_by) or None,
                description=table_description(spec),
                storage_options=self._options(),
            )
            log.debug("created table %s", self.uri(spec))

        _with_commit_retries(f"create {spec.name}", create)

    def written_columns(self, spec: TableSpec) -> list[str]:
        """The columns the table's current version has (an older table may lack new ones)."""
        return [f.name for f in self._table(spec).schema().fields] if self.exists(spec) else []

    def file_stats(self, spec: TableSpec) -> pa.Table:
        """One row per data file of the current version: table, partition, path, bytes, rows."""
        schema = pa.schema(
            [
                ("table_name", pa.string()),
                ("partition", pa.string()),
                ("path", pa.string()),
                ("size_bytes", pa.int64()),
                ("num_records", pa.int64()),
            ]
        )
        if not self.exists(spec):
            return schema.empty_table()
        actions = pa.table(self._table(spec).get_add_actions(flatten=True))
        partitions = [""] * actions.num_rows
        for column in spec.partition_by:
            values = actions.column(f"partition.{column}").to_pylist()
            partitions = [f"{p}/{column}={v}" if p else f"{column}={v}" for p, v in zip(partitions, values)]
        return pa.table(
            {
                "table_name": [spec.name] * actions.num_rows,
                "partition": partitions,
                "path": actions.column("path").cast(pa.string()),
                "size_bytes": actions.column("size_bytes").cast(pa.int64()),
                "num_records": actions.column("num_records").cast(pa.int64()),
            },
            schema=schema,
        )

    def file_uris(self, spec: TableSpec, *, version: int | None = None) -> list[str]:
        """The table's data files (at `version`, else the latest); none when the table does not exist."""
        return self._table(spec, version).file_uris() if self.exists(spec) else []

    def compact(self, spec: TableSpec, *, target_size: int | None = None) -> CompactResult:
        """Rewrite each partition's small files into files of about `target_size` bytes (one commit).

        Rows and their order within a partition stay as they were; a table with nothing to
        compact gets no commit. Files are written with the table's own writer properties
        (blob columns without dictionaries or statistics), like every other write.
        """
        import json

        metrics = self._table(spec).optimize.compact(
            target_size=target_size, writer_properties=_writer_properties(spec)
        )

        def total_size(key: str) -> int:
            return int(json.loads(metrics.get(key) or "{}").get("totalSize", 0))

        return CompactResult(
            files_added=int(metrics.get("numFilesAdded", 0)),
            files_removed=int(metrics.get("numFilesRemoved", 0)),
            partitions_optimized=int(metrics.get("partitionsOptimized", 0)),
            bytes_added=total_size("filesAdded"),
            bytes_removed=total_size("filesRemoved"),
        )

    def vacuum(
        self,
        spec: TableSpec,
        *,
        retention_hours: int,
        enforce: bool = True,
        dry_run: bool = True,
        keep_versions: list[int] | None = None,
        unlisted: bool = True,
    ) -> VacuumResult:
        """Delete files that no version younger than `retention_hours` needs, except those of `keep_versions`.

        `enforce` keeps delta-rs's own floor (the table's delta.deletedFileRetentionDuration,
        7 days by default); a dry run deletes nothing and returns what would go. `unlisted`
        (delta-rs's full vacuum): also the files in the table's folder that no version ever
        listed (written by a task whose run died before its commit) and older than the
        retention. Off, only files that a commit removed go: what a short retention needs
        while a job may be writing files it has not committed yet.
        """
        table = self._table(spec)
        paths = table.vacuum(
            retention_hours=retention_hours,
            dry_run=dry_run,
            enforce_retention_duration=enforce,
            full=unlisted,
            keep_versions=sorted(set(keep_versions)) if keep_versions else None,
        )
        paths = sorted(paths)
        if not paths:
            return VacuumResult(paths=[], bytes=0)
        if dry_run:
            return VacuumResult(paths=paths, bytes=self._local_size(spec, paths))
        # a real vacuum commits "VACUUM START" with the size of what it deletes
        for commit in table.history(limit=5):
            if commit.get("operation") == "VACUUM START":
                size = (commit.get("operationMetrics") or {}).get("sizeOfDataToDelete")
                return VacuumResult(paths=paths, bytes=None if size is None else int(size))
        return VacuumResult(paths=paths, bytes=None)

    def _local_size(self, spec: TableSpec, paths: list[str]) -> int | None:
        if not self.is_local:
            return None
        from urllib.parse import unquote

        total = 0
        for path in paths:
            try:
                total += os.path.getsize(os.path.join(self.uri(spec), unquote(path)))
            except OSError:
                pass  # gone already (another vacuum); it frees nothing
        return total

    def commit_times(self, spec: TableSpec, *, since_version: int = 0) -> dict[int, datetime]:
        """Commit time (UTC) of every version from `since_version` to the current one that the log still holds."""
        table = self._table(spec)
        current = table.version()
        if since_version > current:
            return {}
        history = table.history(limit=current - max(0, since_version) + 1)
        return {
            int(commit["version"]): datetime.fromtimestamp(commit["timestamp"] / 1000, tz=timezone.utc)
            for commit in history
            if "version" in commit and "timestamp" in commit
        }

    def purge_log(self, spec: TableSpec) -> None:
        """Forget the table's commit history: checkpoint the current version, delete every older commit file.

        Old commits keep per-file statistics and write predicates that can name a person
        after their rows and files are gone (`facelake forget`). Versions before the
        checkpoint can no longer be loaded afterwards. The table's own log retention is
        restored by a last, empty commit.
        """
        table = self._table(spec)
        retention = table.metadata().configuration.get("delta.logRetentionDuration")
        table.alter.set_table_properties({"delta.logRetentionDuration": "interval 0 seconds"})
        table = self._table(spec)
        table.create_checkpoint()
        table.cleanup_metadata()
        table.alter.set_table_properties({"delta.logRetentionDuration": retention or "interval 30 days"})
