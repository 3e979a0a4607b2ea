"""One logging set-up for every entry point: timestamps, level, logger name, to stderr."""
from __future__ import annotations

import logging
import os


def setup_logging() -> None:
    level = os.environ.get("FACELAKE_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("tensorflow", "absl", "h5py", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


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
    except ValueError as error:
        log.error("%s", error)
        return None


def run_job(main, argv: list[str] | None = None) -> int:
    """Run a job's `main`; a lake it cannot use or unusable storage options end it with exit 2 and one
    clear line (the job logged nothing secret: these errors name keys and tables, never values)."""
    from etl.lake import LakeError
    from etl.storage import StorageOptionsError

    try:
        return main(argv)
    except (LakeError, StorageOptionsError) as error:
        setup_logging()
        logging.getLogger("facelake").error("%s", error)
        return 2
