"""Which faces `facelake score` must (re)score for a model, as SQL over the lake's DuckDB views.

A face needs a score from a model when `scores` has no row for (train_id, face) written from the
same ingest run of the face with the same model export: a re-ingested face, or a rerun with
another `--format`, is scored again. Scores whose face is no longer an `ok` frame are stale and
deleted. The model's parts are the relation `model_parts` (video_id, frame_index, part) that the
caller registers (`etl.score.model_parts.face_parts`).
"""

from __future__ import annotations

from schemas.vocabulary import DetStatus, ScorePart

# every face frames offers, with the label columns scores copies; `run_id` is the ingest run's
_FACES = f"""
    SELECT video_id || '#' || CAST(frame_index AS VARCHAR) AS face_key,
           video_id, frame_index, split, label, attack_type, subject, sensor, medium, session,
           run_id AS frames_run_id
    FROM frames
    WHERE det_status = '{DetStatus.OK}'"""


def todo_query(*, where: str | None) -> str:
    """Faces lacking a current score of the model $train_id with export $model_format, with their part."""
    chosen = f" AND f.face_key IN (SELECT video_id || '#' || CAST(frame_index AS VARCHAR) FROM frames WHERE ({where}))"
    return f"""
        WITH faces AS ({_FACES})
        SELECT f.*, coalesce(p.part, '{ScorePart.UNSEEN}') AS part
        FROM faces f
        LEFT JOIN model_parts p ON p.video_id = f.video_id AND p.frame_index = f.frame_index
        WHERE NOT EXISTS (
            SELECT 1 FROM scores s
            WHERE s.train_id = $train_id AND s.face_key = f.face_key
              AND s.frames_run_id IS NOT DISTINCT FROM f.frames_run_id
              AND s.model_format IS NOT DISTINCT FROM $model_format
        ){chosen if where else ""}
        ORDER BY f.video_id, f.frame_index"""


def stale_query() -> str:
    """Keys of the model $train_id's scores whose face is no longer an ok frame."""
    return f"""
        WITH faces AS ({_FACES})
        SELECT s.face_key FROM scores s
        WHERE s.train_id = $train_id AND NOT EXISTS (SELECT 1 FROM faces f WHERE f.face_key = s.face_key)
        ORDER BY s.face_key"""
