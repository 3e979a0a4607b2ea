"""`LAKE/catalog.duckdb`: a DuckDB file with one view per lake table, for plain DuckDB.

DuckDB cannot download its `delta` extension here; the `duckdb-extension-delta` wheel
ships it for exactly our pinned DuckDB version. The catalog installs it from the wheel
(into DuckDB's own extension folder, so later DuckDB sessions of this user load it by
themselves) and defines `CREATE VIEW frames AS SELECT * FROM delta_scan('<abs path>')`
for every table that exists (an empty view with the table's columns for one not
written yet). Views hold absolute paths: move the lake, then run any job to refresh.
Every job that writes refreshes the catalog when it finishes.

An object-store lake (`s3://`) gets no catalog file: DuckDB would need its httpfs
extension (not bundled in the duckdb wheel, not downloadable here) and the lake's
credentials stored as a DuckDB secret, and facelake writes secrets nowhere. Query such
a lake with `facelake sql` / `facelake audit`, which read it through pyarrow
(`etl.query.connect`).
"""
from __future__ import annotations

import logging
from pathlib import Path

from etl.lake import Lake
from schemas import ALL_TABLES

log = logging.getLogger(__name__)

CATALOG_NAME = "catalog.duckdb"


def delta_extension_path() -> Path:
    import duckdb

    try:
        import duckdb_extension_delta
    except ImportError as error:  # pragma: no cover - install problem
        raise ImportError("the catalog needs 'duckdb-extension-delta': pip install duckdb-extension-delta") from error
    path = Path(duckdb_extension_delta.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "delta.duckdb_extension"
    if not path.is_file():
        raise FileNotFoundError(
            f"duckdb-extension-delta has no extension for DuckDB {duckdb.__version__} at {path}; "
            "install the duckdb-extension-delta version equal to your duckdb version"
        )
    return path


def load_delta(connection) -> None:
    """INSTALL the shipped delta extension from its file (no download) and LOAD it."""
    path = delta_extension_path()
    connection.execute(f"INSTALL '{_quote(str(path))}'")
    connection.execute("LOAD delta")


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _empty_select(connection, spec) -> str:
    connection.register("_spec_types", spec.schema.empty_table())
    try:
        types = connection.sql("DESCRIBE _spec_types").fetchall()
    finally:
        connection.unregister("_spec_types")
    columns = ", ".join(f'CAST(NULL AS {kind}) AS "{column}"' for column, kind, *_ in types)
    return f"SELECT {columns} LIMIT 0"


def refresh_catalog_if_local(lake: Lake) -> None:
    """Keep LAKE/catalog.duckdb current after a job; a lake is complete without it, so only warn.

    An object-store lake has no catalog file (see the module's docstring)."""
    if not lake.is_local:
        log.debug("no catalog file for the object-store lake %s; use facelake sql/audit", lake.root)
        return
    try:
        refresh_catalog(lake)
    except Exception as error:  # noqa: BLE001 - e.g. another process holds the catalog open
        log.warning("could not refresh %s/%s (%s); rerun a job to refresh it", lake.root, CATALOG_NAME, error)


def catalog_path(lake: Lake) -> Path:
    if "://" in lake.root:
        raise ValueError(f"the DuckDB catalog file needs a local lake folder, got {lake.root}")
    return Path(lake.root) / CATALOG_NAME


def refresh_catalog(lake: Lake) -> Path:
    """(Re)create one view per existing table; returns the catalog's path."""
    import duckdb

    path = catalog_path(lake)
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(path))
    try:
        load_delta(connection)
        for name, spec in ALL_TABLES.items():
            if lake.exists(spec):
                uri = _quote(lake.uri(spec))
                connection.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM delta_scan(\'{uri}\')')
            else:
                # a table no job has written yet: an empty view with its columns, so queries run
                connection.execute(f'CREATE OR REPLACE VIEW "{name}" AS {_empty_select(connection, spec)}')
    finally:
        connection.close()
    log.info("catalog refreshed: %s", path)
    return path
