"""One pyarrow schema per Delta table, with its partition columns and a schema version.

Data is cast to these schemas at the write boundary (``etl.lake``), never inferred.
"""
from schemas.spec import TableSpec
from schemas.frames import FRAMES
from schemas.runs import RUNS
from schemas.videos import VIDEOS

ALL_TABLES: dict[str, TableSpec] = {spec.name: spec for spec in (VIDEOS, FRAMES, RUNS)}

__all__ = ["TableSpec", "VIDEOS", "FRAMES", "RUNS", "ALL_TABLES"]
