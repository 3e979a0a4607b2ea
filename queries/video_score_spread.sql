-- Videos whose frames disagree: the spread of one model's scores over each video's faces on one part, widest first.
-- std: population standard deviation of the scores (0 for a single face); spoof_share: the share of the video's faces
-- decided spoof; disagreement = min(spoof_share, 1 - spoof_share): 0 when every face got the same decision, 0.5 when
-- they split evenly. A wide spread points at frames unlike the rest (a broken crop, a hand, a cut) or a video that
-- changes (the attack shown only part of the time). The model: $train_id, else the one created last
-- (train_runs.created_at; a model without a train_runs row counts by its newest score, then by the larger train_id).
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
            ELSE error('video_score_spread: part must be one of train, validation, test, unseen; got '
                || coalesce(CAST($part AS VARCHAR), 'NULL'))
        END                                         AS part
),
videos AS (
    SELECT
        s.train_id,
        s.video_id,
        any_value(s.label)                                          AS label,
        any_value(s.attack_type)                                    AS attack_type,
        count(*)                                                    AS faces,
        avg(CAST(s.score AS DOUBLE))                                AS mean_score,
        stddev_pop(CAST(s.score AS DOUBLE))                         AS std_score,
        min(CAST(s.score AS DOUBLE))                                AS min_score,
        max(CAST(s.score AS DOUBLE))                                AS max_score,
        count(*) FILTER (WHERE s.decision = 'spoof') / count(*)     AS spoof_share
    FROM scores AS s
    JOIN model AS m ON s.train_id = m.train_id AND s.part = m.part
    GROUP BY s.train_id, s.video_id
)
SELECT
    *,
    least(spoof_share, 1 - spoof_share)                             AS disagreement
FROM videos
ORDER BY std_score DESC, disagreement DESC, video_id
LIMIT $n;
