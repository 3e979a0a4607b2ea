"""Which faces `facelake embed` must (re)compute, as SQL over the lake's DuckDB views.

A face needs a vector for a model when the embeddings table has no row for its key
and model, or has one computed from other aligned bytes (the face was re-ingested).
Vectors whose face is gone from the source table (video re-ingested without that
face, photo no longer single) are stale and deleted.
"""

from __future__ import annotations

import duckdb

from etl.errors import UsageError, require
from etl.lake.query import check_read_only
from schemas.vocabulary import DetStatus, EmbeddingSource, PhotoRoute, PhotoStatus

# Every face a source offers: key, identity and split columns of the embeddings table,
# plus the aligned PNG and its hash.
_FACES = {
    EmbeddingSource.FRAMES: f"""
        SELECT video_id || '#' || CAST(frame_index AS VARCHAR) AS face_key,
               lpad(CAST(subject AS VARCHAR), 3, '0') AS identity,
               video_id, frame_index, CAST(NULL AS VARCHAR) AS photo_id, split, label,
               md5(aligned) AS aligned_sha, aligned
        FROM frames
        WHERE det_status = '{DetStatus.OK}' AND aligned IS NOT NULL AND subject IS NOT NULL""",
    EmbeddingSource.PHOTOS: f"""
        SELECT photo_id AS face_key, "user" AS identity,
               CAST(NULL AS VARCHAR) AS video_id, CAST(NULL AS INTEGER) AS frame_index, photo_id,
               CAST(NULL AS VARCHAR) AS split, CAST(NULL AS VARCHAR) AS label,
               md5(aligned) AS aligned_sha, aligned
        FROM photos
        WHERE status = '{PhotoStatus.OK}' AND route = '{PhotoRoute.SINGLE}'
          AND aligned IS NOT NULL AND source_present""",
}
METADATA_COLUMNS = ("face_key", "identity", "video_id", "frame_index", "photo_id", "split", "label", "aligned_sha")


def check_where(connection, where: str | None, source: str) -> None:
    """A user's `where` filter must be one boolean expression over the source table's columns.

    Raises:
        UsageError: `where` does not parse or names no column of `source` (option `where`).
        ReadOnlyError: `where` is more than one plain query.
    """
    if not where:
        return
    sql = f"SELECT * FROM {source} WHERE ({where})"
    check_read_only(connection, sql)  # one statement, a plain query
    try:
        connection.sql(f"EXPLAIN {sql}")
    except duckdb.Error as error:
        raise UsageError(f"{where!r} is not a valid filter on {source}: {error}", option="where") from error


def todo_query(source: str, *, where: str | None, every_k: int) -> str:
    """Faces of `source` lacking a current vector for the model bound as $model."""
    require(source in _FACES, f"source {source!r} is not one of {', '.join(_FACES)}")
    filters = []
    if where:
        # the user's filter applies to the source table's own columns
        key = "video_id || '#' || CAST(frame_index AS VARCHAR)" if source == EmbeddingSource.FRAMES else "photo_id"
        filters.append(f"face_key IN (SELECT {key} FROM {source} WHERE ({where}))")
    if every_k > 1:
        require(
            source == EmbeddingSource.FRAMES,
            "applies to video frames; photos are embedded one by one",
            option="every_k",
        )
        filters.append(f"frame_index % {int(every_k)} = 0")
    extra = "".join(f" AND {f}" for f in filters)
    return f"""
        WITH faces AS ({_FACES[source]})
        SELECT * FROM faces f
        WHERE NOT EXISTS (
            SELECT 1 FROM embeddings e
            WHERE e.source = '{source}' AND e.model = $model
              AND e.face_key = f.face_key AND e.aligned_sha = f.aligned_sha
        ){extra}
        ORDER BY face_key"""


def stale_query(source: str) -> str:
    """Keys of vectors for $model whose face the source no longer offers."""
    return f"""
        WITH faces AS ({_FACES[source]})
        SELECT e.face_key FROM embeddings e
        WHERE e.source = '{source}' AND e.model = $model
          AND NOT EXISTS (SELECT 1 FROM faces f WHERE f.face_key = e.face_key)
        ORDER BY e.face_key"""
