-- Videos that have frames but not a single `ok` frame (no aligned face anywhere): the "empty videos" the original SiW scripts delete.
-- Videos without any frame (corrupt, not processed) are not listed; see video_status for those.
-- Parameters: none.
SELECT
    v.video_id,
    v.split,
    v.label,
    v.attack_type,
    v.status,
    count(*)                                               AS frames,
    count(*) FILTER (WHERE f.det_status = 'no_face')       AS no_face,
    count(*) FILTER (WHERE f.det_status = 'low_score')     AS low_score
FROM videos AS v
JOIN frames AS f USING (video_id)
GROUP BY ALL
HAVING count(*) FILTER (WHERE f.det_status = 'ok') = 0
ORDER BY v.split, v.video_id;
