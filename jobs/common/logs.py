"""What a job prints, and where everything else goes.

Run from the command line (`facelake <job>` or `python -m jobs.<job>`, both through
`run_job`), a job is quiet: the terminal gets facelake's own lines as
`facelake <job>: ...` (`facelake <job>: error: ...` for errors, no timestamps), one
progress bar and the summary. Everything else (Ray's and TensorFlow's messages, native
libraries writing to file descriptor 2, tracebacks, facelake's own debug lines) goes to
a log file with timestamps, named at the end of the run. `--verbose` shows all of it
live as well. `FACELAKE_LOG_DIR` chooses the folder for the log files
(default `~/.local/state/facelake/logs`), `FACELAKE_LOG_LEVEL` the file's level.

A job's `main` called directly (tests, notebooks) just logs to stderr. Running a job (its
opening, errors as lines and exit codes) is `jobs.common.runner`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from etl.ray_runtime import show_worker_output
from jobs.common import console

# loggers whose lines are facelake's own (the rest is other libraries' chatter)
OWN_LOGGERS = ("facelake",)  # every facelake logger is facelake.<job> or facelake.<module>
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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
