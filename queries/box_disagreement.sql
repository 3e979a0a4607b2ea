-- Frames where the `.face` box and the detected box both exist but overlap little (IoU < $min_iou).
-- Boxes are [x1, y1, x2, y2] (SQL lists are 1-based); IoU over continuous areas; frames with an empty union are skipped.
-- Parameters:
--   $min_iou = 0.5: list frames whose IoU is below this (above 1 lists every frame with both boxes)
WITH boxes AS (
    SELECT
        video_id,
        frame_index,
        det_status,
        face_box_source,
        CAST(face_box[1] AS DOUBLE) AS ax1, CAST(face_box[2] AS DOUBLE) AS ay1,
        CAST(face_box[3] AS DOUBLE) AS ax2, CAST(face_box[4] AS DOUBLE) AS ay2,
        CAST(det_box[1] AS DOUBLE)  AS bx1, CAST(det_box[2] AS DOUBLE)  AS by1,
        CAST(det_box[3] AS DOUBLE)  AS bx2, CAST(det_box[4] AS DOUBLE)  AS by2
    FROM frames
    WHERE face_box IS NOT NULL AND det_box IS NOT NULL
),
areas AS (
    SELECT
        *,
        greatest(0.0, least(ax2, bx2) - greatest(ax1, bx1)) * greatest(0.0, least(ay2, by2) - greatest(ay1, by1)) AS inter,
        greatest(0.0, ax2 - ax1) * greatest(0.0, ay2 - ay1) AS area_a,
        greatest(0.0, bx2 - bx1) * greatest(0.0, by2 - by1) AS area_b
    FROM boxes
)
SELECT
    video_id,
    frame_index,
    det_status,
    face_box_source,
    inter / (area_a + area_b - inter) AS iou
FROM areas
WHERE area_a + area_b - inter > 0
  AND inter / (area_a + area_b - inter) < $min_iou
ORDER BY iou, video_id, frame_index;
