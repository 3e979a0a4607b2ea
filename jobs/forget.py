"""`facelake forget` / `python -m jobs.forget`: erase one person from a lake, bytes included.

--subject ID removes a SiW subject (videos, frames, their face vectors and identity rows);
--user NAME removes a registry user (photos, their face vectors and identity rows). Rows
of other jobs in `runs` that name them keep their row with the name replaced. Every
table that can hold that kind of person is then vacuumed with retention 0: the files
that held them leave the disk, and time travel to versions before the erasure is gone
on those tables. `train_runs` keep their metrics; models trained on the person's frames
are not retrained (the erasure lists them). Source trees are not touched.

Recorded in `erasures` and `runs` by a sha256 of the id, never the id itself. --dry-run
counts what would go and changes nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys

from etl.erasure.request import ForgetRequest, check_lake
from etl.erasure.run import ForgetSummary, run_forget
from etl.lake.lake import Lake
from jobs.common.cli_help import job_parser
from jobs.common.options import JobOptions
from jobs.common.output import format_table
from jobs.common.runner import job_main, report_error, run_job
from schemas.vocabulary import ErasureStatus

log = logging.getLogger("facelake.forget")

EXAMPLES = """
# what erasing SiW subject 7 would remove, changing nothing
facelake forget --lake demo/lake --subject 7 --dry-run
# erase registry user user_03, bytes and older versions included
facelake forget --lake demo/lake --user user_03
"""


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or job_parser("forget", __doc__, examples=EXAMPLES)
    JobOptions(parser).lake(creates=False)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--subject", metavar="ID", help="SiW subject number (7 or 007)")
    who.add_argument("--user", metavar="NAME", help="registry user name (the user's folder in the photo tree)")
    parser.add_argument("--dry-run", action="store_true", help="count what would be removed; change nothing")
    return parser


def _request(args: argparse.Namespace) -> ForgetRequest:
    return ForgetRequest.from_options(subject=args.subject, user=args.user, dry_run=args.dry_run)


@job_main(build_parser, _request, log=log)
def main(args: argparse.Namespace, request) -> int:
    try:
        lake = Lake.open(args.lake)  # a path without a lake: LakeNotFoundError, one line and exit 2 (run_job)
        check_lake(lake)
    except ValueError as error:  # UsageError (a FacelakeError) or a plain refusal from below: exit 2
        return report_error(error, log)
    log.info("forgetting %s in %s%s", request.label, lake.root, " (dry run)" if request.dry_run else "")
    try:
        summary = run_forget(lake=lake, request=request)
    except KeyboardInterrupt:
        log.warning("forget interrupted; tables already erased stay erased: rerun the same forget to finish")
        return 130
    except Exception:  # the run is recorded as failed; say so and exit non-zero
        log.exception("forget failed; rerun the same forget to finish")
        return 1
    _log_summary(summary, lake)
    return 0


def _log_summary(summary: ForgetSummary, lake: Lake) -> None:
    request = summary.request
    if summary.status == ErasureStatus.NOTHING_FOUND:
        log.info("nothing to forget: no table of %s holds %s", lake.root, request.label)
        return
    for line in format_table(summary.table()).splitlines() if summary.tables else ():
        log.info("%s", line)
    if request.dry_run:
        counts = summary.rows_removed, summary.rows_redacted
        log.info("dry run (nothing changed): %d rows would be removed, %d runs rows redacted", *counts)
        return
    erased = summary.erasure_id, summary.run_id, request.label, summary.rows_removed, summary.rows_redacted
    files = sum(t.files_vacuumed for t in summary.tables)
    message = "erasure %s (run %s): %s removed: %d rows, %d runs rows redacted, %d files vacuumed in %.1f s"
    log.info(message, *erased, files, summary.elapsed_s)
    if trained := summary.models_not_retrained:
        not_retrained = len(trained), request.label, ", ".join(trained)
        log.warning("%d train runs read frames that held %s; their models are not retrained: %s", *not_retrained)


if __name__ == "__main__":
    sys.exit(run_job(main))
