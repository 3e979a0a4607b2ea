"""Running a job as the command line does: its shared opening, its summary, errors as lines and exit codes.

    @job_main(build_parser, config_from_args, log=log)
    def main(args, config) -> int:
        ...
        return log_summary(summary, log, failed=args.strict and bool(summary.failures))

    if __name__ == "__main__":
        sys.exit(run_job(main, job="ingest"))

`run_job` is the one place an error becomes a line and an exit code; where the lines go
(terminal, log file) is `jobs.common.logs`.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import traceback
from pathlib import Path

from etl.errors import FacelakeError
from jobs.common.logs import configure_output, setup_logging

# jobs that run long and start Ray or TensorFlow: their summary ends with the log file's name
LOG_NAMED_IN_SUMMARY = (
    "ingest",
    "register",
    "embed",
    "dedup",
    "train",
    "forget",
    "maintain",
    "predict",
    "report",
    "sample",
)


def _interrupt_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def stop_on_sigterm() -> None:
    """SIGTERM ends a job like Ctrl-C: it commits what finished, records `interrupted`, exits 130."""
    import signal

    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)


def start_job(parser, config_from_args, argv: list[str] | None, *, log: logging.Logger):
    """The prologue every long-running job shares: logging, SIGTERM as Ctrl-C, arguments, typed config.

    Returns `(args, config)`, or None when the config does not validate (the reason is
    already logged; the job exits 2 before any work).
    """
    setup_logging()
    stop_on_sigterm()
    args = parser.parse_args(argv)
    try:
        return args, config_from_args(args)
    except FacelakeError as error:
        log.error("%s", error.line(flags=True))
        return None
    except ValueError as error:
        log.error("%s", error)
        return None


def report_error(error: Exception, log: logging.Logger) -> int:
    """Log an expected error as the command line shows it and return its exit code.

    A `FacelakeError` says its line with flags (not config names) and brings its own exit code;
    any other error a job expects (a `ValueError` from a library below) is a refusal: its text,
    exit 2. Anything a job lets through reaches `run_job`, which maps it the same way.
    """
    if isinstance(error, FacelakeError):
        log.error("%s", error.line(flags=True))
        return error.exit_code
    log.error("%s", error)
    return 2


def log_summary(summary, log: logging.Logger, *, failed: bool = False) -> int:
    """Log a run's summary lines (`summary.lines()`) and return the job's exit code: 1 when `failed`
    (`--strict` with failures), else 0."""
    for line in summary.lines():
        log.info("%s", line)
    return 1 if failed else 0


def job_main(build_parser, config_from_args, *, log: logging.Logger):
    """The opening every job's `main` shares, as a decorator: logging, SIGTERM as Ctrl-C, the
    arguments and the typed config (`start_job`); a config that does not validate exits 2.

    The decorated function takes `(args, config)` and returns the exit code; the result is the
    job's `main(argv=None) -> int`, as the command line, `run_job` and tests call it.
    """

    def decorate(body):
        @functools.wraps(body)
        def main(argv: list[str] | None = None) -> int:
            started = start_job(build_parser(), config_from_args, argv, log=log)
            if started is None:
                return 2
            return body(*started)

        return main

    return decorate


def _wants_verbose(argv: list[str]) -> bool:
    return any(arg in ("-v", "--verbose") for arg in argv) or os.environ.get("FACELAKE_VERBOSE") == "1"


def _quiet_broken_pipe() -> None:
    """The reader of stdout left (`| head`): drop what is still buffered, no traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _append_traceback(log_path: Path | None, error: BaseException) -> None:
    if log_path:
        with open(log_path, "a", encoding="utf-8") as file:
            traceback.print_exception(error, file=file)


def run_job(main, argv: list[str] | None = None, *, job: str | None = None) -> int:
    """Run a job's `main` as the command line does: quiet output with a log file, one-line errors.

    This is the one place errors become exit codes and lines. Exit codes: the job's own; a
    `FacelakeError`'s `exit_code` (2 for usage and lake-state errors: one clear line naming the
    flag, keys, tables and the store's status and code, never secret values or request URLs);
    2 for an object store that denies access; 1 for any other error (its traceback in the log
    file); 130 when interrupted; 0 when stdout's reader left early.
    """
    from etl.lake.storage_errors import describe_storage_error

    argv = list(sys.argv[1:] if argv is None else argv)
    module = main.__module__
    if module == "__main__":  # `python -m jobs.<job>`: the module's real name is in its spec
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec else module
    job = job or module.rsplit(".", 1)[-1]
    if any(arg in ("-h", "--help") for arg in argv):
        return main(argv)
    output = configure_output(job, verbose=_wants_verbose(argv))
    log = logging.getLogger(f"facelake.{job}")
    where = f" (details in {output.log_path})" if output.log_path else ""
    try:
        code = main(argv)
    except FacelakeError as error:
        if error.exit_code == 2:  # the user's to fix: the line says what, no traceback needed
            log.error("%s", error.line(flags=True))
            return 2
        _append_traceback(output.log_path, error)
        log.error("%s: %s%s", type(error).__name__, error.line(flags=True), where)
        return error.exit_code
    except BrokenPipeError:
        _quiet_broken_pipe()
        return 0
    except KeyboardInterrupt:
        log.error("interrupted%s", where)
        return 130
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    except Exception as error:  # noqa: BLE001 - the one place an unexpected error becomes a line and exit 1
        _append_traceback(output.log_path, error)
        refusal = describe_storage_error(error)
        if refusal:  # the store's status and code on the line; denied access is the user's to fix: exit 2
            log.error("%s%s", refusal.line, where)
            return 2 if refusal.denied else 1
        log.error("%s: %s%s", type(error).__name__, str(error).splitlines()[0] if str(error) else "", where)
        return 1
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_broken_pipe()
        return 0
    if output.log_path and job in LOG_NAMED_IN_SUMMARY and not output.verbose and code != 2:
        log.info("log: %s", output.log_path)
    return code
