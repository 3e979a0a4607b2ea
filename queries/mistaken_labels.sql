-- Label suspects from the model: held-out videos and faces whose label a trained model contradicts with high confidence.
-- Beside the identity label checks (queries/label_suspects.sql: a face filed under the wrong person), these are faces
-- that may be filed under the wrong class (a live video in spoof/, an attack in live/) or broken (an empty crop).
-- Only the parts a model never saw: part test or unseen, never train or validation (a model fits those, so its score
-- there says little about the label). mistakenness of a face = score if labelled live, 1 - score if spoof: the
-- model's P(the other class), threshold-free; a video's = the mean over its faces on those parts (faces: how many).
-- Video rows first (a whole video the model contradicts is the stronger evidence), then face rows; each level
-- ranked by mistakenness, most mistaken first, at most $n rows each. score: the face's score, a video's mean score.
-- Parameters:
--   $train_id = NULL: only this model's scores (a train_runs train_id); NULL lists every model's suspects
--   $min_mistakenness = 0.9: list only videos and faces at or above this mistakenness (0 to 1)
--   $n = 50: at most this many video rows and this many face rows
WITH held_out AS (
    SELECT
        train_id,
        part,
        video_id,
        face_key,
        frame_index,
        label,
        attack_type,
        CAST(score AS DOUBLE)                                                       AS score,
        CASE WHEN label = 'live' THEN CAST(score AS DOUBLE) ELSE 1 - CAST(score AS DOUBLE) END AS mistakenness
    FROM scores
    WHERE part IN ('test', 'unseen') AND ($train_id IS NULL OR train_id = $train_id)
),
video_rows AS (
    SELECT
        'video'                     AS level,
        train_id,
        -- a video's faces share its part for one model, unless some were ingested after the model's frames version
        CASE WHEN count(DISTINCT part) = 1 THEN any_value(part) ELSE 'test+unseen' END AS part,
        video_id,
        CAST(NULL AS VARCHAR)       AS face_key,
        CAST(NULL AS INTEGER)       AS frame_index,
        any_value(label)            AS label,
        any_value(attack_type)      AS attack_type,
        count(*)                    AS faces,
        avg(score)                  AS score,
        avg(mistakenness)           AS mistakenness
    FROM held_out
    GROUP BY train_id, video_id
),
face_rows AS (
    SELECT
        'face' AS level, train_id, part, video_id, face_key, frame_index, label, attack_type,
        1 AS faces, score, mistakenness
    FROM held_out
),
ranked AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY level ORDER BY mistakenness DESC, train_id, video_id, frame_index) AS level_rank
    FROM (SELECT * FROM video_rows UNION ALL SELECT * FROM face_rows)
    WHERE mistakenness >= $min_mistakenness
)
SELECT
    level,
    level_rank AS rank,
    train_id,
    part,
    video_id,
    face_key,
    frame_index,
    label,
    attack_type,
    faces,
    score,
    mistakenness
FROM ranked
WHERE level_rank <= $n
ORDER BY CASE level WHEN 'video' THEN 0 ELSE 1 END, level_rank;
