-- Repaired `.face` lines (videos.face_repairs) counted by kind and method, over videos with repairs.
-- example_video_id/example_line: the first repair of that kind and method (by video_id, line).
-- Parameters: none.
WITH repairs AS (
    SELECT video_id, UNNEST(face_repairs) AS r
    FROM videos
    WHERE len(face_repairs) > 0
)
SELECT
    r.kind                                   AS kind,
    r.method                                 AS method,
    count(*)                                 AS repairs,
    count(DISTINCT video_id)                 AS videos,
    arg_min(video_id, (video_id, r.line))    AS example_video_id,
    arg_min(r.line, (video_id, r.line))      AS example_line
FROM repairs
GROUP BY ALL
ORDER BY repairs DESC, kind, method;
