"""Runs a facelake job in this process and records every image payload that reaches its driver.

    python tests/driver_bytes_probe.py REPORT.json MODULE [job arguments...]

runs `python -m jobs.MODULE job arguments...` with hooks on the driver's ways of holding
data: `Lake.read` (what it returns), `ray.get` (what comes back from the cluster),
`ray.put` and `ray.data.from_arrow` (what the driver hands to it). A payload is an Arrow
table with a binary column and at least one row, or a uint8 numpy array of 3 or more
dimensions (decoded images). Each one seen is written to REPORT.json as
{"hook", "what", "rows"}; the job's exit status is kept. Workers are other processes, so
what they hold is not recorded: that is the point (SiW's 2 million faces may live on the
cluster, never in the driver).

`install()` / `findings` are also used directly by tests, to prove the probe records what
it should.
"""

from __future__ import annotations

import functools
import json
import runpy
import sys
from pathlib import Path

findings: list[dict] = []


def _payloads(value, depth: int = 0):
    """(what, rows) of every image payload inside `value` (tables, arrays, and containers of them)."""
    import dataclasses

    import numpy as np
    import pyarrow as pa

    if depth > 4:
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # e.g. ingest's VideoResult
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, (pa.Table, pa.RecordBatch)):
        binary = [f.name for f in value.schema if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
        if binary and value.num_rows:
            yield f"arrow table with binary column(s) {binary}", value.num_rows
    elif isinstance(value, np.ndarray):
        if value.dtype == np.uint8 and value.ndim >= 3 and value.size:
            yield f"uint8 array {value.shape}", int(value.shape[0])
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _payloads(item, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _payloads(item, depth + 1)


def _record(hook: str, value) -> None:
    for what, rows in _payloads(value):
        findings.append({"hook": hook, "what": what, "rows": rows})


def _watch_result(hook: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        result = fn(*args, **kwargs)
        _record(hook, result)
        return result

    return wrapper


def _watch_arguments(hook: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _record(hook, (args, kwargs))
        return fn(*args, **kwargs)

    return wrapper


def _watch_ray(ray) -> None:
    if getattr(ray, "_facelake_probe", False):
        return
    ray.get = _watch_result("ray.get", ray.get)
    ray.put = _watch_arguments("ray.put", ray.put)
    ray.data.from_arrow = _watch_arguments("ray.data.from_arrow", ray.data.from_arrow)
    ray._facelake_probe = True


def install() -> None:
    """Hooks this process's `Lake.read`, and Ray's get / put / from_arrow once a job starts Ray."""
    import etl.ray_runtime
    from etl.lake.lake import Lake

    Lake.read = _watch_result("Lake.read", Lake.read)
    init_ray = etl.ray_runtime.init_ray

    @functools.wraps(init_ray)
    def watched_init_ray(*args, **kwargs):
        ray = init_ray(*args, **kwargs)
        _watch_ray(ray)
        return ray

    # jobs import init_ray by name: this must run before the job's module is imported
    etl.ray_runtime.init_ray = watched_init_ray


def main() -> None:
    report, module, *args = sys.argv[1:]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    # the job module's own first step (tf-keras before TensorFlow), before anything imports TensorFlow
    from etl.train.model import use_legacy_keras

    use_legacy_keras()
    install()
    sys.argv = [f"jobs.{module}", *args]
    try:
        runpy.run_module(f"jobs.{module}", run_name="__main__", alter_sys=True)
    finally:
        Path(report).write_text(json.dumps(findings, indent=1))


if __name__ == "__main__":
    main()
