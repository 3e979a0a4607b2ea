-- Per video: decoded frames (original), frames with an aligned face (detect) and the difference (sub), worst first.
-- The original SiW scripts' `detect`, `original`, `sub` table.
-- Parameters:
--   $split = NULL: only videos of this split ('train' or 'test'); NULL lists both
SELECT
    v.video_id,
    v.split,
    v.label,
    v.attack_type,
    v.status,
    count(f.frame_index)                                   AS original,
    count(f.frame_index) FILTER (WHERE f.det_status = 'ok') AS detect,
    count(f.frame_index) - count(f.frame_index) FILTER (WHERE f.det_status = 'ok') AS sub,
    round(100.0 * count(f.frame_index) FILTER (WHERE f.det_status = 'ok') / nullif(count(f.frame_index), 0), 1) AS detect_pct
FROM videos AS v
LEFT JOIN frames AS f USING (video_id)
WHERE $split IS NULL OR v.split = $split
GROUP BY ALL
ORDER BY sub DESC, v.video_id;
