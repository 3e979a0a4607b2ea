"""Helpers of the fault-injection tests: a reader that must never fail, and reaping killed process trees."""

from __future__ import annotations

import threading
import time

import psutil

from etl.lake.lake import Lake
from schemas import TableSpec


def reap(processes: list[psutil.Process]) -> None:
    for proc in processes:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=20)


class ReadsThroughout:
    """Reads `specs` in a loop while a fault happens: once a table exists, every read must succeed."""

    def __init__(self, lake_path, specs: tuple[TableSpec, ...]) -> None:
        self.lake, self.specs, self.reads, self.errors = Lake(str(lake_path)), specs, 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for spec in self.specs:
                if not self.lake.exists(spec):
                    continue
                try:
                    self.lake.read(spec)
                    self.reads += 1
                except Exception as error:  # noqa: BLE001 - collected, asserted empty by the test
                    self.errors.append(f"{spec.name}: {error!r}")
            time.sleep(0.05)

    def __enter__(self) -> "ReadsThroughout":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
