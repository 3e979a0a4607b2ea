-- Aligned faces sampled per label and attack type, for the report's contact sheets.
-- Parameters: $per_group (faces per attack type, default 36). Sampling is a stable hash
-- of the frame key, so the same lake gives the same sheet.
SELECT label, attack_type, aligned
FROM frames
WHERE det_status = 'ok'
QUALIFY row_number() OVER (PARTITION BY label, attack_type ORDER BY hash(video_id, frame_index), video_id, frame_index)
        <= coalesce($per_group, 36)
ORDER BY label, attack_type, hash(video_id, frame_index), video_id, frame_index;
