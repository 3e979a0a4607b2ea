"""What a job prints, and where everything else goes.

Run from the command line (`facelake <job>` or `python -m jobs.<job>`, both through
`run_job`), a job is quiet: the terminal gets facelake's own lines as
`facelake <job>: ...` (`facelake <job>: error: ...` for errors, no timestamps), one
progress bar and the summary. Everything else (Ray's and TensorFlow's messages, native
libraries writing to file descriptor 2, tracebacks, facelake's own debug lines) goes to
a log file with timestamps, named at the end of the run. `--verbose` shows all of it
live as well. `FACELAKE_LOG_DIR` chooses the folder for the log files
(default `~/.local/state/facelake/logs`), `FACELAKE_LOG_LEVEL` the file's level.

A job's `main` called directly (tests, notebooks) just logs to stderr.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from etl.errors import FacelakeError
from etl.ray_runtime import show_worker_output
from jobs import console

# loggers whose lines are facelake's own (the rest is other libraries' chatter)
OWN_LOGGERS = ("facelake",)  # every facelake logger is facelake.<job> or facelake.<module>
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
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


def log_dir() -> Path:
    configured = os.environ.get("FACELAKE_LOG_DIR")
    if configured:
        return Path(configured).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "facelake" / "logs"


class ConsoleFormatter(logging.Formatter):
    """`facelake <job>: message`, `facelake <job>: error: message`; other libraries' lines (with
    --verbose) keep their logger's name."""

    def __init__(self, job: str) -> None:
        super().__init__()
        self.prefix = f"facelake {job}: "

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            message = "error: " + message
        elif record.levelno >= logging.WARNING:
            message = "warning: " + message
        if not record.name.startswith(OWN_LOGGERS):
            message = f"[{record.name}] {message}"
        return self.prefix + message


class OwnLinesOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.startswith(OWN_LOGGERS)


@dataclass
class JobOutput:
    job: str
    verbose: bool
    log_path: Path | None
    console: object


_configured: JobOutput | None = None


def _quiet_libraries() -> None:
    for noisy in ("tensorflow", "absl", "h5py", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def setup_logging() -> None:
    """Logging for a job's `main`: a no-op when `run_job` set up the command line's output
    already, else plain timestamped lines on stderr."""
    if _configured is not None:
        return
    level = os.environ.get("FACELAKE_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format=FILE_FORMAT)
    _quiet_libraries()


def _open_log_file(job: str) -> Path | None:
    folder = log_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{job}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
        path.touch()
        return path
    except OSError:
        return None  # an unwritable log folder must not stop the job; chatter then stays on stderr


def configure_output(job: str, *, verbose: bool) -> JobOutput:
    """The command line's output for `job` (see the module's docstring)."""
    global _configured
    level = os.environ.get("FACELAKE_LOG_LEVEL", "INFO").upper()
    log_path = _open_log_file(job)
    sys.stderr.flush()
    terminal = sys.stderr
    if log_path is not None and not verbose:
        # fd 2 becomes the log file, so native libraries and Ray/TF chatter land there;
        # facelake's lines go to a duplicate of the original stderr
        saved = os.dup(2)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        terminal = os.fdopen(saved, "w", buffering=1, encoding="utf-8", errors="replace")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    console.set_stream(terminal)

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG if level == "DEBUG" else logging.INFO)
    on_terminal = logging.StreamHandler(terminal)
    on_terminal.setFormatter(ConsoleFormatter(job))
    on_terminal.setLevel(level)
    if not verbose:
        on_terminal.addFilter(OwnLinesOnly())
    root.addHandler(on_terminal)
    if log_path is not None:
        in_file = logging.FileHandler(log_path, encoding="utf-8")
        in_file.setFormatter(logging.Formatter(FILE_FORMAT))
        in_file.setLevel(level)
        root.addHandler(in_file)
    _quiet_libraries()
    _configured = JobOutput(job=job, verbose=verbose, log_path=log_path, console=terminal)
    show_worker_output(verbose)  # workers' own output stays in Ray's session logs unless --verbose
    return _configured


def log_path() -> Path | None:
    return _configured.log_path if _configured else None


def verbose() -> bool:
    """Whether other libraries' output should reach the terminal: `--verbose`, or a job's `main`
    called directly (no quiet set-up: everything on stderr, as before)."""
    return _configured is None or _configured.verbose


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
