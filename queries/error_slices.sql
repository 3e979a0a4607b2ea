-- Error slices of one model: APCER and BPCER per attack type, sensor, medium, session and subject, on one part.
-- Frame level (one face = one presentation): bpcer = live faces decided spoof / live faces, apcer = attack faces decided
-- live / attack faces (ISO/IEC 30107-3, at the model's threshold, as scores.decision says); NULL when a slice has no
-- live (bpcer) or no attack (apcer) face. value: the slice as text, subjects as SiW writes them ('007'), NULL when the
-- face has no value for the dimension. The model: $train_id, else the one created last (train_runs.created_at; a model
-- without a train_runs row counts by its newest score, then by the larger train_id).
-- Only test and unseen faces say how the model generalises; train and validation ones show what it learned.
-- Parameters:
--   $train_id = NULL: the model (a train_runs train_id, '<run id>/<protocol>'); NULL: the model created last in scores
--   $part = 'test': the protocol part of the faces: train, validation, test or unseen
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
            ELSE error('error_slices: part must be one of train, validation, test, unseen; got '
                || coalesce(CAST($part AS VARCHAR), 'NULL'))
        END                                         AS part
),
picked AS (
    SELECT s.*
    FROM scores AS s
    JOIN model AS m ON s.train_id = m.train_id AND s.part = m.part
),
slices AS (
    SELECT 1 AS dimension_order, 'attack_type' AS dimension, attack_type AS value, * FROM picked
    UNION ALL
    SELECT 2, 'sensor', CAST(sensor AS VARCHAR), * FROM picked
    UNION ALL
    SELECT 3, 'medium', CAST(medium AS VARCHAR), * FROM picked
    UNION ALL
    SELECT 4, 'session', CAST(session AS VARCHAR), * FROM picked
    UNION ALL
    SELECT 5, 'subject', printf('%03d', subject), * FROM picked
)
SELECT
    train_id,
    dimension,
    value,
    count(*)                                                        AS faces,
    count(*) FILTER (WHERE label = 'live')                          AS live_faces,
    count(*) FILTER (WHERE label = 'spoof')                         AS attack_faces,
    count(DISTINCT video_id)                                        AS videos,
    count(*) FILTER (WHERE label = 'live' AND decision = 'spoof')
        / nullif(count(*) FILTER (WHERE label = 'live'), 0)         AS bpcer,
    count(*) FILTER (WHERE label = 'spoof' AND decision = 'live')
        / nullif(count(*) FILTER (WHERE label = 'spoof'), 0)        AS apcer
FROM slices
GROUP BY train_id, dimension_order, dimension, value
ORDER BY dimension_order, try_cast(value AS INTEGER) NULLS LAST, value NULLS LAST;
