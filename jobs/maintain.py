"""`facelake maintain` / `python -m jobs.maintain`: compact small files and vacuum old ones, table by table.

Every table of the lake is compacted (each partition's small files rewritten into few
large ones; rows unchanged) and vacuumed (files no version younger than the retention
needs are deleted; time travel within the retention keeps working). The `frames`
versions that `train_runs` rows were trained on are kept readable: the frames
retention is raised to reach them, unless --force. Recorded in `runs`; --dry-run
writes nothing and prints the files vacuum would delete.
"""

from __future__ import annotations

import argparse
import logging
import sys

from etl.config import MaintainConfig
from etl.lake.lake import Lake
from etl.lake.maintenance import NothingToMaintain
from etl.lake.run import run_maintenance
from jobs.common.cli_help import job_parser
from jobs.common.options import JobOptions, config_from
from jobs.common.output import format_table
from jobs.common.runner import job_main, report_error, run_job
from schemas import ALL_TABLES

log = logging.getLogger("facelake.maintain")

EXAMPLES = """
# compact and vacuum every table, keeping 7 days of time travel
facelake maintain --lake demo/lake
# see what vacuum would delete in frames, changing nothing
facelake maintain --lake demo/lake --only frames --dry-run
"""


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or job_parser("maintain", __doc__, examples=EXAMPLES)
    option = JobOptions(parser, MaintainConfig())
    option.lake(creates=False)
    retention_help = "keep the files that versions younger than this many hours still need"
    option("retention_hours", retention_help + " (168 = 7 days; less needs --force)")
    size_help = "compacted file size in MB (default: the table's delta.targetFileSize, else 100)"
    option("target_size_mb", size_help, "MB", flag="--target-size", type=int)
    option("force", "allow a retention below 7 days and below the age of the frames versions train runs read")
    option("dry_run", "compact nothing, delete nothing, write nothing: print what vacuum would delete")
    # default None, not the config's (): no "(default: ())" in --help; config_from_args passes tables itself
    only_help = f"maintain only these tables: {', '.join(ALL_TABLES)}"
    option("tables", only_help, "TABLE", flag="--only", default=None, nargs="+", choices=list(ALL_TABLES))
    return parser


def config_from_args(args: argparse.Namespace) -> MaintainConfig:
    return config_from(args, MaintainConfig, tables=tuple(args.tables or ()))


@job_main(build_parser, config_from_args, log=log)
def main(args: argparse.Namespace, config) -> int:
    lake = Lake.open(args.lake)
    try:
        summary = run_maintenance(lake=lake, config=config)
    except NothingToMaintain as error:
        return report_error(error, log)
    except KeyboardInterrupt:
        log.warning("maintenance interrupted; tables already done stay done, rerun to finish")
        return 130
    except Exception:  # the run is recorded as failed; say so and exit non-zero
        log.exception("maintenance failed")
        return 1
    if config.dry_run:
        for result in summary.tables:
            sys.stdout.writelines(f"{lake.uri(ALL_TABLES[result.table])}/{path}\n" for path in result.vacuumed)
    for line in format_table(summary.table()).splitlines():
        log.info("%s", line)
    label = "dry run (nothing changed)" if config.dry_run else f"run {summary.run_id}"
    log.info("%s: %d tables in %.1f s", label, len(summary.tables), summary.elapsed_s)
    if summary.failures:
        log.error("maintenance failed for %s", ", ".join(t.table for t in summary.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_job(main))
