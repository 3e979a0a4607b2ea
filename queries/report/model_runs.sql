-- The models in `scores`, the one created last first (as the model queries pick it when $train_id is NULL:
-- train_runs.created_at, else the newest score, then the larger train_id), with their faces per part.
-- Parameters: none.
SELECT
    s.train_id,
    any_value(s.protocol)                               AS protocol,
    any_value(s.model_format)                           AS model_format,
    max(s.threshold)                                    AS threshold,
    count(*)                                            AS faces,
    count(*) FILTER (WHERE s.part = 'train')            AS train,
    count(*) FILTER (WHERE s.part = 'validation')       AS validation,
    count(*) FILTER (WHERE s.part = 'test')             AS test,
    count(*) FILTER (WHERE s.part = 'unseen')           AS unseen,
    count(DISTINCT s.threshold)                         AS thresholds,
    max(s.created_at)                                   AS scored_at
FROM scores AS s
LEFT JOIN train_runs AS t USING (train_id)
GROUP BY s.train_id
ORDER BY max(t.created_at) DESC NULLS LAST, max(s.created_at) DESC NULLS LAST, s.train_id DESC;
