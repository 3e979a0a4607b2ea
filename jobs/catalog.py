"""`facelake catalog`: (re)write LAKE/catalog.duckdb, the DuckDB file plain DuckDB opens, and
say how to open it.

The catalog holds one view per table over the lake's own folder. Jobs that write keep it
current, and any facelake command re-points a copied or moved lake's catalog; this command
does it on purpose (e.g. for a lake copied with `cp -r` or `rsync` that only plain DuckDB
will read). An s3:// lake has no catalog file: query it with `facelake sql`.
"""

from __future__ import annotations

import logging
import sys

from etl.lake.catalog import delta_extension_path, refresh_catalog, stale_catalog
from etl.lake.lake import Lake
from jobs.common.cli_help import job_parser
from jobs.common.logs import setup_logging
from jobs.common.options import JobOptions
from jobs.common.runner import run_job

log = logging.getLogger("facelake.catalog")

EXAMPLES = """
# point a copied lake's catalog at the copy
cp -r demo/lake /data/lake-copy && facelake catalog --lake /data/lake-copy
# print the DuckDB command line that opens the demo lake's catalog (any OS user, offline)
facelake catalog --lake demo/lake
"""


def build_parser():
    parser = job_parser("catalog", __doc__, examples=EXAMPLES)
    JobOptions(parser).lake(creates=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    args = build_parser().parse_args(argv)
    lake = Lake.open(args.lake)
    if not lake.is_local:
        log.error(
            "%s is an object-store lake: it has no catalog file; query it with `facelake sql --lake %s`",
            lake.root,
            lake.root,
        )
        return 2
    made_for = stale_catalog(lake)
    path = refresh_catalog(lake)
    if made_for:
        log.info("%s pointed at %s; it now reads %s", path, made_for, lake.root)
    else:
        log.info("wrote %s", path)
    log.info("open it with: duckdb -readonly -cmd \"LOAD '%s'\" %s", delta_extension_path(), path)
    log.info("or in Python: facelake.open_catalog(%r)", lake.root)
    return 0


if __name__ == "__main__":
    sys.exit(run_job(main))
