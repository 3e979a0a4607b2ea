-- Sharpness of every frame with a face region: Laplacian variance and the Android count.
SELECT sharpness_lapvar, sharpness_count FROM frames WHERE sharpness_count IS NOT NULL ORDER BY video_id, frame_index;
