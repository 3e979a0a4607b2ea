"""facelake's public Python API: read a lake, and run the jobs from a notebook or another program.

    >>> import facelake
    >>> lake = facelake.open_lake("demo/lake")
    >>> frames = lake.table("frames", columns=["video_id", "det_status"], filters=[("label", "=", "spoof")])
    >>> lake.sql("SELECT det_status, count(*) AS n FROM frames GROUP BY ALL")
    >>> ds = lake.dataset("frames", columns=["aligned", "label"])  # a Ray Dataset

Reading is read-only, and safe in a process that must exit cleanly: tables are read with
pyarrow over the files of the asked Delta version, never with deltalake's
`to_pyarrow_table()`, which can abort the process at exit (docs/reading.md).

Writing is the jobs' business: the command line (`facelake ingest`, ...) or the same run
functions it calls, listed here with their typed configs:

    >>> from facelake import IngestConfig, Lake, run_ingest
    >>> summary = run_ingest(source="data/SiW", lake=Lake("demo/lake"), config=IngestConfig(workers=2))

Everything in `__all__` is public; the rest of `etl` may change between versions. Names
are loaded on first use, so `import facelake` stays light (no Ray, no TensorFlow).
"""

from __future__ import annotations

import importlib

# public name -> the module that defines it
_EXPORTS = {
    # reading
    "open_lake": "facelake.reader",
    "LakeReader": "facelake.reader",
    "Filters": "facelake.reader",
    "LakeNotFoundError": "facelake.reader",
    "open_catalog": "etl.lake.catalog",
    # the lake the jobs write
    "Lake": "etl.lake.lake",
    # typed configurations
    "DetectorConfig": "etl.config",
    "IngestConfig": "etl.config",
    "RegisterConfig": "etl.config",
    "TrainConfig": "etl.config",
    "MaintainConfig": "etl.config",
    "EmbedJobConfig": "etl.embed.run",
    "EmbedderConfig": "etl.embed.backends",
    "SearchConfig": "etl.identity.search",
    "ForgetRequest": "etl.erasure.request",
    # the jobs' run functions
    "run_ingest": "etl.ingest.run",
    "run_register": "etl.ingest.run",
    "run_embed": "etl.embed.run",
    "run_dedup": "etl.identity.run",
    "run_train": "etl.train.run",
    "run_forget": "etl.erasure.run",
    "run_maintenance": "etl.lake.run",
    "run_audit": "etl.lake.run",
    # errors
    "FacelakeError": "etl.errors",
    "UsageError": "etl.errors",
    "LakeStateError": "etl.errors",
    "DataError": "etl.errors",
    "TransientIOError": "etl.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'facelake' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
