-- The worst N videos by lost frames (decoded frames without an aligned face), with the loss share.
-- Only videos that have frames; ties broken by video_id.
-- Parameters:
--   $n = 10: how many videos to list
SELECT
    v.video_id,
    v.split,
    v.label,
    v.attack_type,
    count(*)                                         AS frames,
    count(*) FILTER (WHERE f.det_status = 'ok')      AS ok,
    count(*) - count(*) FILTER (WHERE f.det_status = 'ok') AS lost,
    (count(*) - count(*) FILTER (WHERE f.det_status = 'ok')) / count(*) AS lost_share
FROM videos AS v
JOIN frames AS f USING (video_id)
GROUP BY ALL
ORDER BY lost DESC, v.video_id
LIMIT $n;
