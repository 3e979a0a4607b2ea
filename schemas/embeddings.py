"""`embeddings`: one row per (face, model): an L2-normalised float32 face vector.

A face is an aligned face of `frames` (det_status ok) or of `photos` (route single);
`face_key` is "<video_id>#<frame_index>" or the photo_id. `aligned_sha` is the hash of
the aligned PNG the vector was computed from, so a re-ingested face gets a new vector.
Vectors of every model share the table, so `vector` is a variable-length list with its
length in `dim` (Delta has no fixed-size array type).
"""

import pyarrow as pa

from schemas.spec import TableSpec
from schemas.vocabulary import EmbeddingSource, values

EMBEDDING_SOURCES = values(EmbeddingSource)

EMBEDDINGS = TableSpec(
    name="embeddings",
    version=1,
    partition_by=("source",),
    schema=pa.schema(
        [
            pa.field("source", pa.string(), nullable=False),  # frames | photos
            pa.field("face_key", pa.string(), nullable=False),
            pa.field("identity", pa.string(), nullable=False),  # frames: subject; photos: user
            pa.field("video_id", pa.string()),
            pa.field("frame_index", pa.int32()),
            pa.field("photo_id", pa.string()),
            pa.field("split", pa.string()),  # frames only
            pa.field("label", pa.string()),  # frames only
            pa.field("model", pa.string(), nullable=False),
            pa.field("model_version", pa.string()),
            pa.field("dim", pa.int32(), nullable=False),
            pa.field("vector", pa.list_(pa.float32()), nullable=False),
            pa.field("aligned_sha", pa.string()),
            pa.field("run_id", pa.string()),
            pa.field("created_at", pa.timestamp("us", tz="UTC")),
        ]
    ),
)
