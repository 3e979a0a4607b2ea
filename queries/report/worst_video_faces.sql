-- Up to $per_video aligned faces (evenly spread over the video) of the $n videos that lost
-- the most frames, with what they lost. Parameters: $n (default 6), $per_video (default 12).
WITH per_video AS (
    SELECT video_id, count(*) AS frames, count(*) FILTER (WHERE det_status = 'ok') AS ok
    FROM frames GROUP BY video_id
), worst AS (
    SELECT video_id, frames, frames - ok AS lost
    FROM per_video
    ORDER BY lost DESC, video_id
    LIMIT coalesce($n, 6)
), ranked AS (
    SELECT f.video_id, f.frame_index, f.aligned,
           row_number() OVER (PARTITION BY f.video_id ORDER BY f.frame_index) AS k,
           count(*) OVER (PARTITION BY f.video_id) AS ok_frames
    FROM frames AS f JOIN worst USING (video_id)
    WHERE f.det_status = 'ok'
)
SELECT w.video_id, w.frames, w.lost, r.frame_index, r.aligned
FROM worst AS w
LEFT JOIN ranked AS r
  ON r.video_id = w.video_id
 AND (r.k - 1) % greatest(1, ceil(r.ok_frames / coalesce($per_video, 12))::INTEGER) = 0
ORDER BY w.lost DESC, w.video_id, r.frame_index;
