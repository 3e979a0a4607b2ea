"""`LAKE/catalog.duckdb`: a DuckDB file with one view per lake table, for plain DuckDB.

DuckDB cannot download its `delta` extension here; the `duckdb-extension-delta` wheel
ships it for exactly our pinned DuckDB version. The catalog installs it from the wheel
(into DuckDB's own extension folder, so later DuckDB sessions of this user load it by
themselves) and defines `CREATE VIEW frames AS SELECT * FROM delta_scan('<abs path>')`
for every table that exists (an empty view with the table's columns for one not
written yet). Every job that writes refreshes the catalog when it finishes.

A lake can move. DuckDB resolves a view's path when the view is queried, relative to the
working directory and never to the database file (and a table function takes constant
arguments only), so the views hold absolute paths and the catalog records its lake in a
`facelake_catalog` view. Copied or moved, a lake's catalog is re-pointed at its new
place by `facelake catalog --lake NEW` or by the next job that writes the lake; the
read-only ones (`sql`, `audit`, `report`, `facelake.open_lake`) write nothing and say
in one warning that it is stale. Until then plain DuckDB must not read the old place
silently: each view checks that the catalog file it belongs to is the one open, and
otherwise fails with an error naming `facelake catalog --lake` (a moved lake's views
fail already, as the old folder is gone).

Another OS user (another HOME) has no delta extension installed, and DuckDB would try to
download it: `open_catalog` (and `facelake.open_catalog`) LOAD it from the wheel's file
instead, which needs no download and writes nothing.

An object-store lake (`s3://`) gets no catalog file: DuckDB would need its httpfs
extension (not bundled in the duckdb wheel, not downloadable here) and the lake's
credentials stored as a DuckDB secret, and facelake writes secrets nowhere. Query such
a lake with `facelake sql` / `facelake audit`, which read it through pyarrow
(`etl.lake.query.connect`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from etl.lake.lake import Lake
from schemas import ALL_TABLES

log = logging.getLogger(f"facelake.{__name__}")

CATALOG_NAME = "catalog.duckdb"


def delta_extension_path() -> Path:
    import duckdb

    try:
        import duckdb_extension_delta
    except ImportError as error:  # pragma: no cover - install problem
        raise ImportError("the catalog needs 'duckdb-extension-delta': pip install duckdb-extension-delta") from error
    path = (
        Path(duckdb_extension_delta.__file__).parent
        / "extensions"
        / f"v{duckdb.__version__}"
        / "delta.duckdb_extension"
    )
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
    """Keep LAKE/catalog.duckdb current after a job (re-pointing a copied or moved lake's); a lake
    is complete without it, so only warn.

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


RECORD_VIEW = "facelake_catalog"


def _guard(path: Path) -> str:
    """A WHERE clause that is true while this catalog file is the one open, an error otherwise."""
    where = _quote(str(path))
    message = _quote(
        f"this catalog.duckdb was made for the lake at {path.parent}; the lake was copied or moved: "
        "run `facelake catalog --lake <the lake folder>` (any facelake job on it does it too) "
        "to point it at its own folder"
    )
    return (
        f"WHERE CASE WHEN EXISTS (SELECT 1 FROM duckdb_databases() WHERE path = '{where}') "
        f"THEN true ELSE error('{message}') END"
    )


def refresh_catalog(lake: Lake) -> Path:
    """(Re)create one view per existing table, and the record of the lake's place; returns the catalog's path."""
    import duckdb

    path = catalog_path(lake)
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(path))
    try:
        load_delta(connection)
        for name, spec in ALL_TABLES.items():
            if lake.exists(spec):
                uri = _quote(lake.uri(spec))
                connection.execute(
                    f"CREATE OR REPLACE VIEW \"{name}\" AS SELECT * FROM delta_scan('{uri}') {_guard(path)}"
                )
            else:
                # a table no job has written yet: an empty view with its columns, so queries run
                connection.execute(f'CREATE OR REPLACE VIEW "{name}" AS {_empty_select(connection, spec)}')
        connection.execute(f"CREATE OR REPLACE VIEW {RECORD_VIEW} AS SELECT '{_quote(lake.root)}' AS lake_root")
    finally:
        connection.close()
    log.debug("catalog refreshed: %s", path)
    return path


def recorded_root(path: Path) -> str | None:
    """The lake folder the catalog at `path` was made for (None: no catalog, or one from before the record)."""
    import duckdb

    if not path.is_file():
        return None
    with duckdb.connect(str(path), read_only=True) as connection:
        found = connection.sql(f"SELECT view_name FROM duckdb_views() WHERE view_name = '{RECORD_VIEW}'").fetchall()
        return connection.sql(f"SELECT lake_root FROM {RECORD_VIEW}").fetchone()[0] if found else None


def stale_catalog(lake: Lake) -> str | None:
    """Where the lake's catalog points when that is not the lake itself (copied or moved); None when
    it points here, or there is no catalog to speak of."""
    if not lake.is_local:
        return None
    path = catalog_path(lake)
    try:
        made_for = recorded_root(path)
    except Exception as error:  # noqa: BLE001 - e.g. a job holds the catalog open for writing
        log.debug("could not read %s (%s)", path, error)
        return None
    if not path.is_file() or made_for == lake.root:
        return None
    return made_for or "another place (a catalog from an older facelake)"


def warn_if_stale(lake: Lake) -> None:
    """For read-only readers: one warning when plain DuckDB would not read this lake through its catalog."""
    made_for = stale_catalog(lake)
    if made_for:
        log.warning(
            "%s/%s still points at %s (the lake was copied or moved): plain DuckDB cannot read this lake "
            "through it until `facelake catalog --lake %s` runs",
            lake.root,
            CATALOG_NAME,
            made_for,
            lake.root,
        )


def open_catalog(lake_root: str | Path):
    """A read-only DuckDB connection to LAKE/catalog.duckdb with the delta extension loaded from
    the installed wheel: works offline, for any OS user, and writes nothing."""
    import duckdb

    path = Path(lake_root).resolve() / CATALOG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {CATALOG_NAME} in {path.parent}; run `facelake catalog --lake {path.parent}`")
    connection = duckdb.connect(
        str(path), read_only=True, config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    connection.execute(f"LOAD '{_quote(str(delta_extension_path()))}'")
    return connection
