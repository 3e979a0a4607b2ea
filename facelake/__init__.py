"""facelake's public Python API: read a lake from a notebook or another program.

    >>> import facelake
    >>> lake = facelake.open_lake("demo/lake")
    >>> frames = lake.table("frames", columns=["video_id", "det_status"], filters=[("label", "=", "spoof")])
    >>> lake.sql("SELECT det_status, count(*) AS n FROM frames GROUP BY ALL")
    >>> ds = lake.dataset("frames", columns=["aligned", "label"])  # a Ray Dataset

Read-only, and safe to use in a process that must exit cleanly: tables are read with
pyarrow over the files of the asked Delta version, never with deltalake's
`to_pyarrow_table()`, which can abort the process at exit (docs/reading.md).
Writing is the jobs' business (`facelake ingest`, `register`, ...).
"""

from etl.lake.catalog import open_catalog
from facelake.reader import Filters, LakeNotFoundError, LakeReader, open_lake

__all__ = ["Filters", "LakeNotFoundError", "LakeReader", "open_catalog", "open_lake"]
