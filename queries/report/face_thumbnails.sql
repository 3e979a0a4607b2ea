-- The aligned faces of the given face keys ('<video_id>#<frame_index>', as scores.face_key), for thumbnails.
-- Parameters:
--   $keys = NULL: the face keys (a list)
SELECT video_id || '#' || CAST(frame_index AS VARCHAR) AS face_key, aligned
FROM frames
WHERE aligned IS NOT NULL AND list_contains($keys, video_id || '#' || CAST(frame_index AS VARCHAR));
