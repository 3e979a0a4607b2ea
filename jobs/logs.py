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
