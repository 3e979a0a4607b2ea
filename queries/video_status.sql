-- Videos by status with an example reason: where the defects are (corrupt, bad names, duplicates, missing .face).
-- example_video_id/example_reason: the first video (by video_id) of that status, preferring one with a reason.
-- Parameters: none.
WITH ranked AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY status ORDER BY status_reason IS NULL, video_id) AS pick
    FROM videos
)
SELECT
    status,
    count(*)                                  AS videos,
    count(*) FILTER (WHERE source_present)    AS present,
    count(DISTINCT status_reason)             AS reasons,
    any_value(video_id) FILTER (WHERE pick = 1)      AS example_video_id,
    any_value(status_reason) FILTER (WHERE pick = 1) AS example_reason
FROM ranked
GROUP BY status
ORDER BY videos DESC, status;
