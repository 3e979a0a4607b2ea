-- The videos with the most confident errors of one model on one part: the faces it decided wrongly, and how wrongly.
-- An error is a live face decided spoof or an attack face decided live (scores.decision, at the model's threshold).
-- confidence = |score - threshold| of the video's most confidently wrong face (worst_*; ties: the lower frame_index):
-- how far on the wrong side of the threshold it is (0: right at the threshold). Only videos with an error; most
-- confident first, then the larger error_share. The model: $train_id, else the one created last (train_runs.created_at;
-- a model without a train_runs row counts by its newest score, then by the larger train_id).
-- Parameters:
--   $train_id = NULL: the model (a train_runs train_id, '<run id>/<protocol>'); NULL: the model created last in scores
--   $part = 'test': the protocol part of the faces: train, validation, test or unseen
--   $n = 20: how many videos to list
WITH model AS (
    SELECT
        coalesce(CAST($train_id AS VARCHAR), (
            SELECT s.train_id
            FROM scores AS s
            LEFT JOIN train_runs AS t USING (train_id)
            GROUP BY s.train_id
            ORDER BY max(t.created_at) DESC NULLS LAST, max(s.created_at) DESC NULLS LAST, s.train_id DESC
            LIMIT 1
        ))                                          AS train_id,
        CASE WHEN $part IN ('train', 'validation', 'test', 'unseen') THEN CAST($part AS VARCHAR)
            ELSE error('confident_errors: part must be one of train, validation, test, unseen; got '
                || coalesce(CAST($part AS VARCHAR), 'NULL'))
        END                                         AS part
),
picked AS (
    SELECT
        s.*,
        (s.label = 'live' AND s.decision = 'spoof') OR (s.label = 'spoof' AND s.decision = 'live') AS wrong,
        abs(CAST(s.score AS DOUBLE) - s.threshold)  AS distance
    FROM scores AS s
    JOIN model AS m ON s.train_id = m.train_id AND s.part = m.part
),
videos AS (
    SELECT
        train_id,
        video_id,
        any_value(label)                                            AS label,
        any_value(attack_type)                                      AS attack_type,
        count(*)                                                    AS faces,
        count(*) FILTER (WHERE wrong)                               AS errors,
        count(*) FILTER (WHERE wrong) / count(*)                    AS error_share,
        avg(CAST(score AS DOUBLE))                                  AS mean_score,
        arg_max(face_key, (distance, -frame_index)) FILTER (WHERE wrong)    AS worst_face_key,
        arg_max(frame_index, (distance, -frame_index)) FILTER (WHERE wrong) AS worst_frame_index,
        arg_max(CAST(score AS DOUBLE), (distance, -frame_index)) FILTER (WHERE wrong) AS worst_score,
        max(distance) FILTER (WHERE wrong)                          AS confidence
    FROM picked
    GROUP BY train_id, video_id
)
SELECT *
FROM videos
WHERE errors > 0
ORDER BY confidence DESC, error_share DESC, video_id
LIMIT $n;
