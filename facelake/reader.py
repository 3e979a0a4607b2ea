"""`open_lake`: read a facelake lake from a notebook or another program, read-only.

Every read goes through facelake's own lake module (`etl.lake.lake.Lake`), which reads a
table's files with pyarrow's Parquet dataset over exactly the files of the asked
version. It never calls deltalake's `DeltaTable.to_pyarrow_table()` /
`to_pyarrow_dataset()`: with deltalake 1.x those route reads through a Python
filesystem handler whose threads can still run while the interpreter exits, and the
process then aborts with exit code 134 ("terminate called without an active
exception", delta-rs issue 2184) after printing the right answer. See docs/reading.md.

    >>> import facelake
    >>> lake = facelake.open_lake("demo/lake")
    >>> lake.tables()[:2]
    ['videos', 'frames']
    >>> lake.table("frames", columns=["video_id", "det_status"], filters=[("label", "=", "spoof")]).num_rows
    >>> lake.sql("SELECT status, count(*) AS n FROM videos WHERE label = $label GROUP BY ALL",
    ...          params={"label": "live"}).to_pylist()
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from etl.lake.catalog import warn_if_stale
from etl.lake.lake import Lake, LakeNotFoundError
from schemas import ALL_TABLES, TableSpec

if TYPE_CHECKING:  # heavy optional imports, only for the annotations
    import duckdb
    import ray.data

# `filters`: a pyarrow expression, or the DNF form of pyarrow.parquet / pandas:
# a list of (column, op, value) tuples (all must hold), or a list of such lists (any
# of them must hold). op is one of = == != < > <= >= in "not in".
FilterTuple = tuple[str, str, Any]
Filters = pc.Expression | Sequence[FilterTuple] | Sequence[Sequence[FilterTuple]]

FILTER_OPS = ("=", "==", "!=", "<", ">", "<=", ">=", "in", "not in")


def open_lake(path: str | os.PathLike[str], *, storage_options: Mapping[str, str | bool] | None = None) -> LakeReader:
    """Open the lake at `path` for reading: a folder, or `s3://bucket/prefix`.

    Args:
        path: the lake root, the folder that holds `videos/`, `frames/`, ... (not one table's folder).
        storage_options: for an `s3://` lake, delta-rs storage option names to values
            (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
            `AWS_ALLOW_HTTP`, ...). Default: the same environment variables and
            `FACELAKE_STORAGE_OPTIONS` file every facelake job reads (see `etl.lake.storage`).
            A local lake takes none.

    Raises:
        LakeNotFoundError: no such folder, or no facelake table under it.
        etl.lake.lake.LakeError: a table there was written by a newer facelake schema.

    Example:
        >>> lake = open_lake("demo/lake")
        >>> lake.table("videos", columns=["video_id", "status"]).num_rows
    """
    root = os.fspath(path)
    if not root:
        raise LakeNotFoundError(
            "open_lake: the path is empty; pass the lake folder (e.g. 'demo/lake') or s3://bucket/prefix"
        )
    if "://" not in root:
        if storage_options:
            raise ValueError(f"open_lake({root!r}): storage_options are for an s3:// lake; a local folder takes none")
        if not os.path.isdir(root):
            raise LakeNotFoundError(f"no lake at {os.path.abspath(root)}: no such folder")
    if storage_options is None:
        lake = Lake.open(root)  # options from the environment / FACELAKE_STORAGE_OPTIONS, schema versions checked
    else:
        from etl.lake.storage import with_retry_policy

        options = {
            str(key): ("true" if value is True else "false" if value is False else str(value))
            for key, value in storage_options.items()
        }
        lake = Lake(root, storage_options=with_retry_policy(options))
        lake.check_schema_versions()
    reader = LakeReader(lake)
    if not reader.tables():
        raise LakeNotFoundError(lake.not_found_message())
    warn_if_stale(lake)
    return reader


class LakeReader:
    """A read-only view of one lake: tables as pyarrow Tables or Ray Datasets, SQL through DuckDB.

    Made by `open_lake`. Each call reads the table's newest version unless `version=`
    pins one (`version(name)` tells the newest, so pin it once for reads that must agree).
    Nothing here writes to the lake.
    """

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    def __repr__(self) -> str:  # storage options hold secrets: never shown
        return f"LakeReader({self._lake.root!r})"

    @property
    def root(self) -> str:
        """The lake root: an absolute folder path, or the object-store URI."""
        return self._lake.root

    # -- what is there -------------------------------------------------------------

    def tables(self) -> list[str]:
        """The names of the tables this lake holds, in facelake's order (tables no job has written yet are left out).

        >>> open_lake("demo/lake").tables()[:2]
        ['videos', 'frames']
        """
        return [name for name, spec in ALL_TABLES.items() if self._lake.exists(spec)]

    def schema(self, name: str) -> pa.Schema:
        """The table's schema (facelake's contract in `schemas/`; every read returns these columns and types).

        >>> open_lake("demo/lake").schema("videos").field("status").type
        DataType(string)
        """
        return self._spec(name).schema

    def version(self, name: str) -> int | None:
        """The table's newest Delta version, or None for a facelake table no job has written in this lake yet.

        >>> lake = open_lake("demo/lake")
        >>> pinned = lake.version("frames")
        >>> lake.table("frames", version=pinned, columns=["video_id"])
        """
        return self._lake.version(self._spec(name))

    def files(self, name: str, *, version: int | None = None) -> list[str]:
        """The data files of the table's version (newest by default): what a plain Parquet reader must be given.

        A table's folder also holds the files of older versions (rows since replaced or
        deleted) until `facelake maintain` vacuums them, so a reader pointed at the folder
        (`pyarrow.dataset("LAKE/frames")`, DuckDB `read_parquet('LAKE/frames/**')`) counts
        those too. Local lakes: absolute paths; `s3://` lakes: `bucket/key` paths for
        pyarrow's S3FileSystem. Partition columns (`split`, `label` of `frames`) are not in
        the files; they are the `key=value` folder names.

        >>> import pyarrow.dataset as ds
        >>> lake = open_lake("demo/lake")
        >>> ds.dataset(lake.files("frames"), format="parquet", partitioning="hive",
        ...            partition_base_dir=lake.root + "/frames").count_rows()
        """
        spec = self._spec(name)
        self._check_file_access("files()")
        version = self._check_version(spec, version)
        if version is None:
            return []
        return list(self._read_version(spec, version, lambda: self._dataset(spec, version)).files)

    # -- reads ---------------------------------------------------------------------

    def table(
        self,
        name: str,
        *,
        version: int | None = None,
        columns: Sequence[str] | None = None,
        filters: Filters | None = None,
    ) -> pa.Table:
        """The table's rows as a pyarrow Table, cast to facelake's schema.

        Args:
            name: a table name (`tables()` lists those in this lake).
            version: a Delta version to read (time travel); default the newest.
            columns: the columns to read, in this order; default all. Read only what you
                need from `frames`: its `aligned` and `crop` columns hold image bytes.
            filters: rows to keep, pushed into the scan (partition folders are skipped).
                Either a pyarrow expression (`pyarrow.compute.field("det_score") > 0.9`),
                or the DNF form of `pyarrow.parquet.read_table`: a list of
                `(column, op, value)` tuples that must all hold, or a list of such lists of
                which any must hold; op is one of `= == != < > <= >= in "not in"`.

        A facelake table no job has written yet reads as an empty table with its schema.

        Examples:
            >>> lake = open_lake("demo/lake")
            >>> lake.table("videos").num_rows
            >>> lake.table("frames", columns=["video_id", "frame_index", "det_score"],
            ...            filters=[("split", "=", "test"), ("det_status", "in", ["ok", "low_score"])])
            >>> import pyarrow.compute as pc
            >>> lake.table("frames", version=1, columns=["video_id"], filters=pc.field("frame_index") < 10)
        """
        spec = self._spec(name)
        version = self._check_version(spec, version)
        wanted = self._columns(spec, columns)
        expression = self._filter_expression(spec, filters)
        if version is None:  # not written yet
            return pa.schema([spec.schema.field(c) for c in wanted]).empty_table()
        return self._read_version(
            spec, version, lambda: self._lake.read(spec, columns=wanted, filter=expression, version=version)
        )

    def sql(self, query: str, *, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run a read-only DuckDB query over the lake's tables; the result as a pyarrow Table.

        The same DuckDB `facelake sql` uses (`etl.lake.query`): every table is a view of its
        newest version's files by name (`videos`, `frames`, ...; `lake_files` lists the data
        files), only reading statements are accepted (etl.lake.query.ALLOWED_STATEMENTS), and file
        access is limited to the lake. Parameters are DuckDB's `$name`, bound by DuckDB, never formatted into the
        text. The result is a Table, not a DuckDB relation: a relation needs its
        connection kept open; `connect()` gives one for that.

        >>> lake = open_lake("demo/lake")
        >>> lake.sql("SELECT count(*) AS n FROM frames WHERE det_status = $status", params={"status": "ok"})
        >>> lake.sql("FROM videos SELECT split, label, count(*) AS n GROUP BY ALL ORDER BY ALL").to_pandas()
        """
        from etl.lake.query import run_query

        return run_query(self._lake, query, dict(params or {}))

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with every table as a view of its newest version, for DuckDB relations.

        Its configuration is locked and file access limited to the lake, so nothing it runs
        can write to the lake; close it when done (it is a context manager). Views are
        fixed when it is made: reconnect to see newer versions.

        >>> with open_lake("demo/lake").connect() as con:
        ...     rel = con.sql("FROM frames SELECT video_id, avg(det_score) AS score GROUP BY ALL")
        ...     print(rel.order("score").limit(3))
        """
        from etl.lake.query import connect

        return connect(self._lake)

    def dataset(
        self,
        name: str,
        *,
        version: int | None = None,
        columns: Sequence[str] | None = None,
    ) -> ray.data.Dataset:
        """The table's version (newest by default) as a Ray Dataset, read lazily, streaming, by Ray workers.

        `ray.data.read_parquet` over exactly that version's files, partition columns taken
        from the `key=value` folders, projected to `columns` (Ray pushes the projection
        into the read). Not `ray.data.read_delta`: it goes through deltalake's
        `to_pyarrow_dataset`, the reader that can abort the process at exit. Starts a
        local Ray if none is running (`ray.init(address=...)` first to use a cluster; a
        local lake's folder must then be the same path on every node).

        >>> ds = open_lake("demo/lake").dataset("frames", columns=["video_id", "aligned", "label"])
        >>> ds.count()
        >>> for batch in ds.iter_batches(batch_size=256, batch_format="pyarrow"): ...
        """
        spec = self._spec(name)
        self._check_file_access("dataset()")
        version = self._check_version(spec, version)
        wanted = self._columns(spec, columns)
        try:
            import ray.data
            from ray.data.datasource import Partitioning
        except ImportError as error:  # pragma: no cover - ray is a facelake dependency
            raise ImportError("LakeReader.dataset needs Ray Data: pip install 'ray[data]'") from error
        if version is None:
            return ray.data.from_arrow(pa.schema([spec.schema.field(c) for c in wanted]).empty_table())
        dataset = self._read_version(spec, version, lambda: self._dataset(spec, version))
        if not dataset.files:
            return ray.data.from_arrow(dataset.schema.empty_table().select(wanted))
        if self._lake.is_local:
            base, filesystem = self._lake.uri(spec), None
        else:
            from etl.lake.storage import arrow_path

            base, filesystem = arrow_path(self._lake.uri(spec)), dataset.filesystem
        # partition columns from the folders below the table's own; none at all for an unpartitioned
        # table (Ray's default would read any `key=value` folder above the lake as a column)
        partitioning = (
            Partitioning(
                "hive",
                base_dir=base,
                field_names=list(spec.partition_by),
                field_types={c: str for c in spec.partition_by},
            )
            if spec.partition_by
            else None
        )
        missing = [c for c in wanted if c not in dataset.schema.names]
        if missing:
            raise ValueError(
                f"table {name!r} version {version} was written before column(s) {missing} existed; "
                "read it with .table(), which fills them with nulls"
            )
        result = ray.data.read_parquet(list(dataset.files), filesystem=filesystem, partitioning=partitioning)
        return result.select_columns(wanted)

    # -- helpers -------------------------------------------------------------------

    def _spec(self, name: str) -> TableSpec:
        if not isinstance(name, str) or name not in ALL_TABLES:
            raise ValueError(
                f"no table named {name!r}; facelake's tables are {', '.join(ALL_TABLES)} "
                f"(this lake holds {', '.join(self.tables()) or 'none'})"
            )
        return ALL_TABLES[name]

    def _check_version(self, spec: TableSpec, version: int | None) -> int | None:
        """The version to read: `version` checked against the table's range, or the newest (None: not written)."""
        newest = self._lake.version(spec)
        if version is None:
            return newest
        if isinstance(version, bool) or not isinstance(version, int):
            raise TypeError(f"version must be an int (a Delta version of {spec.name!r}), got {version!r}")
        if newest is None:
            raise ValueError(f"table {spec.name!r} has no versions in {self._lake.root}: no job has written it yet")
        if not 0 <= version <= newest:
            raise ValueError(f"table {spec.name!r} has no version {version}; its versions are 0 to {newest}")
        return version

    def _read_version(self, spec: TableSpec, version: int, read):
        """`read()`, with a clear error when the version is in range but can no longer be loaded."""
        try:
            return read()
        except Exception as error:  # only to name the loadable versions; re-raised below
            if version == self._lake.version(spec):
                raise
            loadable = sorted(self._lake.commit_times(spec))
            if version in loadable:
                if isinstance(error, FileNotFoundError):
                    raise ValueError(
                        f"version {version} of table {spec.name!r} needs data files that were vacuumed "
                        f"(`facelake maintain` or `forget`): {error}"
                    ) from error
                raise
            raise ValueError(
                f"version {version} of table {spec.name!r} can no longer be loaded (its log was cleaned "
                f"up, e.g. by `facelake forget`); loadable versions: "
                f"{', '.join(map(str, loadable)) or 'the newest only'}"
            ) from error

    def _columns(self, spec: TableSpec, columns: Sequence[str] | None) -> list[str]:
        if columns is None:
            return list(spec.schema.names)
        if isinstance(columns, str):
            raise TypeError(f"columns must be a list of names, got the string {columns!r}; write [{columns!r}]")
        wanted = list(columns)
        unknown = [c for c in wanted if c not in spec.schema.names]
        if unknown:
            raise ValueError(
                f"table {spec.name!r} has no column(s) {unknown}; its columns are {', '.join(spec.schema.names)}"
            )
        return wanted

    def _filter_expression(self, spec: TableSpec, filters: Filters | None) -> pc.Expression | None:
        if filters is None:
            return None
        if isinstance(filters, pc.Expression):
            return filters
        if isinstance(filters, (str, bytes)) or not isinstance(filters, Sequence):
            raise TypeError(
                "filters must be a pyarrow expression or a list of (column, op, value) tuples "
                f"(or a list of such lists), got {filters!r}"
            )
        disjunction = [filters] if filters and isinstance(filters[0], tuple) else list(filters)
        for conjunction in disjunction:
            for term in conjunction:
                if not isinstance(term, tuple) or len(term) != 3:
                    raise ValueError(f"a filter is a (column, op, value) tuple, got {term!r}")
                column, op, _ = term
                if column not in spec.schema.names:
                    raise ValueError(
                        f"filter on {column!r}: table {spec.name!r} has no such column; "
                        f"its columns are {', '.join(spec.schema.names)}"
                    )
                if op not in FILTER_OPS:
                    raise ValueError(f"filter {term!r}: op {op!r} is not one of {', '.join(FILTER_OPS)}")
        if not any(disjunction):
            return None
        import pyarrow.parquet as pq

        return pq.filters_to_expression([list(c) for c in disjunction])

    def _dataset(self, spec: TableSpec, version: int):
        return self._lake.dataset(spec, version=version)

    def _check_file_access(self, what: str) -> None:
        """files() and dataset() hand out paths: only for a local lake or an s3:// one (pyarrow's S3FileSystem)."""
        from etl.lake.storage import S3_SCHEMES, scheme

        if not self._lake.is_local and scheme(self.root) not in S3_SCHEMES:
            raise ValueError(
                f"{what} supports local and s3:// lakes, not {scheme(self.root)}://; use .table() or .sql()"
            )
