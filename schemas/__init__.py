"""One pyarrow schema per Delta table, with its partition columns and a schema version.

Data is cast to these schemas at the write boundary (``etl.lake.lake``), never inferred.
"""

from schemas.embeddings import EMBEDDINGS
from schemas.erasures import ERASURES
from schemas.frames import FRAMES
from schemas.identities import IDENTITY_MERGES, IDENTITY_PAIRS, LABEL_CHECKS
from schemas.photos import PHOTOS
from schemas.runs import RUNS
from schemas.scores import SCORES
from schemas.spec import TableSpec
from schemas.train_runs import TRAIN_RUNS
from schemas.videos import VIDEOS

ALL_TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        VIDEOS,
        FRAMES,
        PHOTOS,
        EMBEDDINGS,
        IDENTITY_PAIRS,
        IDENTITY_MERGES,
        LABEL_CHECKS,
        TRAIN_RUNS,
        SCORES,
        RUNS,
        ERASURES,
    )
}

__all__ = [
    "TableSpec",
    "VIDEOS",
    "FRAMES",
    "PHOTOS",
    "EMBEDDINGS",
    "IDENTITY_PAIRS",
    "IDENTITY_MERGES",
    "LABEL_CHECKS",
    "TRAIN_RUNS",
    "SCORES",
    "RUNS",
    "ERASURES",
    "ALL_TABLES",
]
