-- Videos whose `.face` line count differs from the number of frames in the video (face_lines vs source_frames), with the difference.
-- difference = face_lines - source_frames (negative: frames without a `.face` line). source_frames counts
-- every frame that decoded, whatever --frame-stride kept; videos without a `.face` or without decoded
-- frames are not listed.
-- Parameters: none.
SELECT
    video_id,
    split,
    label,
    attack_type,
    face_lines,
    source_frames,
    n_frames,
    stream_frames,
    face_lines - source_frames AS difference
FROM videos
WHERE face_lines IS NOT NULL
  AND source_frames IS NOT NULL
  AND face_lines <> source_frames
ORDER BY abs(face_lines - source_frames) DESC, video_id;
