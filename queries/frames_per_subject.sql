-- Frames and ok frames per subject and split (balance of the data set across subjects).
-- subject: SiW's zero-padded id ('001', as in video ids and frame identities); share_of_split: the subject's share of its split's frames.
-- Parameters: none.
SELECT
    printf('%03d', subject)                         AS subject,
    split,
    count(DISTINCT video_id)                        AS videos,
    count(*)                                        AS frames,
    count(*) FILTER (WHERE det_status = 'ok')       AS ok,
    count(*) FILTER (WHERE det_status = 'ok') / count(*) AS rate,
    count(*) / sum(count(*)) OVER (PARTITION BY split)    AS share_of_split
FROM frames
GROUP BY frames.subject, split
ORDER BY frames.subject NULLS LAST, split;
