-- Videos whose `.face` line count differs from the decoded frame count (face_lines vs n_frames), with the difference.
-- difference = face_lines - n_frames (negative: frames without a `.face` line). Videos without a `.face`
-- or without decoded frames are not listed. Caution: n_frames counts frames after --frame-stride, so with a
-- stride > 1 every video differs.
-- Parameters: none.
SELECT
    video_id,
    split,
    label,
    attack_type,
    face_lines,
    n_frames,
    stream_frames,
    face_lines - n_frames AS difference
FROM videos
WHERE face_lines IS NOT NULL
  AND n_frames IS NOT NULL
  AND face_lines <> n_frames
ORDER BY abs(face_lines - n_frames) DESC, video_id;
