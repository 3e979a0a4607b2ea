-- Frames and ok frames per subject and split (balance of the data set across subjects).
-- share_of_split: the subject's share of its split's frames.
-- Parameters: none.
SELECT
    subject,
    split,
    count(DISTINCT video_id)                        AS videos,
    count(*)                                        AS frames,
    count(*) FILTER (WHERE det_status = 'ok')       AS ok,
    count(*) FILTER (WHERE det_status = 'ok') / count(*) AS rate,
    count(*) / sum(count(*)) OVER (PARTITION BY split)    AS share_of_split
FROM frames
GROUP BY subject, split
ORDER BY subject NULLS LAST, split;
