"""`LAKE/catalog.duckdb`: a DuckDB file with one view per lake table, for plain DuckDB.

DuckDB cannot download its `delta` extension here; the `duckdb-extension-delta` wheel
ships it for exactly our pinned DuckDB version. The catalog installs it from the wheel
(into DuckDB's own extension folder, so later DuckDB sessions of this user load it by
themselves) and defines `CREATE VIEW frames AS SELECT * FROM delta_scan('<abs path>')`
for every table that exists. Views hold absolute paths: move the lake, then refresh.
Jobs refresh the catalog when they finish; `facelake catalog --lake L` does it by hand.
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
                connection.execute(f'DROP VIEW IF EXISTS "{name}"')
    finally:
        connection.close()
    log.info("catalog refreshed: %s", path)
    return path
