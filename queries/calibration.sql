-- Calibration of one model on one part: score bins and the observed spoof rate in each (does P(spoof) mean what it says?).
-- $bins equal-width bins over [0, 1]: bin i holds low <= score < high, the last one also score = 1. Every bin is listed
-- (faces 0, the rest NULL, when none falls in it); no rows when the model has no faces on the part.
-- spoof_rate: the share of the bin's faces labelled spoof; gap = mean_score - spoof_rate (above 0: the model says spoof
-- more often than the labels do; below 0: less). The model: $train_id, else the one created last
-- (train_runs.created_at; a model without a train_runs row counts by its newest score, then by the larger train_id).
-- Parameters:
--   $train_id = NULL: the model (a train_runs train_id, '<run id>/<protocol>'); NULL: the model created last in scores
--   $part = 'test': the protocol part of the faces: train, validation, test or unseen
--   $bins = 10: how many equal-width score bins (1 or more)
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
            ELSE error('calibration: part must be one of train, validation, test, unseen; got '
                || coalesce(CAST($part AS VARCHAR), 'NULL'))
        END                                         AS part,
        CASE WHEN $bins >= 1 THEN CAST($bins AS BIGINT)
            ELSE error('calibration: bins must be 1 or more; got ' || coalesce(CAST($bins AS VARCHAR), 'NULL'))
        END                                         AS bins
),
picked AS (
    SELECT
        s.train_id,
        s.label,
        CAST(s.score AS DOUBLE)                                                         AS score,
        least(greatest(CAST(floor(CAST(s.score AS DOUBLE) * m.bins) AS BIGINT), 0), m.bins - 1) AS bin
    FROM scores AS s
    JOIN model AS m ON s.train_id = m.train_id AND s.part = m.part
),
stats AS (
    SELECT
        bin,
        count(*)                                            AS faces,
        avg(score)                                          AS mean_score,
        count(*) FILTER (WHERE label = 'spoof') / count(*)  AS spoof_rate
    FROM picked
    GROUP BY bin
),
bins AS (
    SELECT m.train_id, m.bins, r.range AS bin
    FROM model AS m, range(CAST($bins AS BIGINT)) AS r
    WHERE EXISTS (SELECT 1 FROM picked)
)
SELECT
    b.train_id,
    b.bin,
    b.bin / b.bins                                  AS low,
    (b.bin + 1) / b.bins                            AS high,
    coalesce(st.faces, 0)                           AS faces,
    st.mean_score,
    st.spoof_rate,
    st.mean_score - st.spoof_rate                   AS gap
FROM bins AS b
LEFT JOIN stats AS st USING (bin)
ORDER BY b.bin;
