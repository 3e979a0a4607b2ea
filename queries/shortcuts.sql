-- Shortcuts: how well each feature that is not liveness alone tells attacks from live faces on one split (AUC).
-- One row per (contrast, feature): contrast = attack (every attack), print or replay, each against live; over the split's
-- frames with an aligned face; video features (bitrate, resolution, session) repeat on each of the video's frames.
-- auc = P(an attack frame's value > a live frame's value), ties count half (Mann-Whitney); strength = max(auc, 1 - auc):
-- 0.5 says nothing, 1.0 separates them perfectly. A flagged feature lets a model score well without learning liveness.
-- Codes (sensor, medium, session) are ordered numbers here: a strength near 1 says attack and live codes barely overlap.
-- Parameters:
--   $split = 'test': the split whose frames are compared (train or test)
--   $flag = 0.8: a strength at or above this is flagged
WITH boxes AS (
    SELECT
        f.*,
        CAST(f.det_box[1] AS DOUBLE) AS bx1, CAST(f.det_box[2] AS DOUBLE) AS by1,
        CAST(f.det_box[3] AS DOUBLE) AS bx2, CAST(f.det_box[4] AS DOUBLE) AS by2,
        CAST(f.face_box[1] AS DOUBLE) AS ax1, CAST(f.face_box[2] AS DOUBLE) AS ay1,
        CAST(f.face_box[3] AS DOUBLE) AS ax2, CAST(f.face_box[4] AS DOUBLE) AS ay2
    FROM frames AS f
    WHERE f.det_status = 'ok' AND f.split = $split
),
base AS (
    SELECT
        b.label,
        b.attack_type,
        CAST(b.sharpness_lapvar AS DOUBLE)                                  AS sharpness_lapvar,
        CAST(b.sharpness_count AS DOUBLE)                                   AS sharpness_count,
        CAST(b.det_score AS DOUBLE)                                         AS det_score,
        (bx2 - bx1) / nullif(v.width, 0)                                    AS face_width,
        (by2 - by1) / nullif(v.height, 0)                                   AS face_height,
        (bx1 + bx2) / 2.0 / nullif(v.width, 0)                              AS face_center_x,
        (by1 + by2) / 2.0 / nullif(v.height, 0)                             AS face_center_y,
        CAST(b.frame_index AS DOUBLE)                                       AS frame_index,
        CAST(b.sensor AS DOUBLE)                                            AS sensor,
        CAST(b.medium AS DOUBLE)                                            AS medium,
        CAST(v.session AS DOUBLE)                                           AS session,
        v.size_bytes * 8.0 / nullif(v.stream_frames / nullif(v.fps, 0), 0) AS bitrate,
        CAST(v.width AS DOUBLE) * v.height                                  AS resolution,
        -- IoU of the .face box and the detected box (null when either is missing or both are empty)
        greatest(0.0, least(ax2, bx2) - greatest(ax1, bx1)) * greatest(0.0, least(ay2, by2) - greatest(ay1, by1))
                                                                            AS inter,
        (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1)               AS areas
    FROM boxes AS b
    JOIN videos AS v USING (video_id)
),
features AS (
    SELECT
        * EXCLUDE (inter, areas),
        inter / nullif(areas - inter, 0) AS face_box_iou
    FROM base
),
contrasts AS (
    SELECT 'attack' AS contrast, * FROM features
    UNION ALL
    SELECT 'print' AS contrast, * FROM features WHERE attack_type IN ('live', 'print')
    UNION ALL
    SELECT 'replay' AS contrast, * FROM features WHERE attack_type IN ('live', 'replay')
),
long AS (
    UNPIVOT (SELECT * EXCLUDE (attack_type) FROM contrasts)
    ON COLUMNS(* EXCLUDE (contrast, label))
    INTO NAME feature VALUE value
),
ranked AS (
    SELECT
        contrast,
        feature,
        label,
        -- the average rank of tied values (1-based), as the Mann-Whitney U statistic needs
        rank() OVER (PARTITION BY contrast, feature ORDER BY value)
            + (count(*) OVER (PARTITION BY contrast, feature, value) - 1) / 2.0 AS avg_rank
    FROM long
    WHERE value IS NOT NULL AND isfinite(value)
),
sums AS (
    SELECT
        contrast,
        feature,
        count(*) FILTER (WHERE label = 'spoof')           AS attack_frames,
        count(*) FILTER (WHERE label = 'live')            AS live_frames,
        sum(avg_rank) FILTER (WHERE label = 'spoof')      AS attack_rank_sum
    FROM ranked
    GROUP BY contrast, feature
),
aucs AS (
    SELECT
        contrast,
        feature,
        attack_frames,
        live_frames,
        (attack_rank_sum - attack_frames * (attack_frames + 1) / 2.0) / (attack_frames * live_frames) AS auc
    FROM sums
    WHERE attack_frames > 0 AND live_frames > 0
)
SELECT
    contrast,
    feature,
    attack_frames,
    live_frames,
    round(auc, 4)                                   AS auc,
    round(greatest(auc, 1 - auc), 4)                AS strength,
    greatest(auc, 1 - auc) >= $flag                 AS flagged,
    CASE
        WHEN greatest(auc, 1 - auc) >= $flag AND feature = 'medium' THEN
            'medium codes name the attack instrument on attacks and capture conditions on live faces: '
            || 'expected to differ; a problem only if the images carry the code (a border, a device)'
        WHEN greatest(auc, 1 - auc) >= $flag THEN
            feature || ' alone tells ' || (CASE contrast WHEN 'attack' THEN 'attacks' ELSE contrast || ' attacks' END)
            || ' from live faces (' || (CASE WHEN auc >= 0.5 THEN 'higher' ELSE 'lower' END)
            || ' on attacks): a model can score well here by learning it instead of liveness'
        ELSE ''
    END                                             AS meaning
FROM aucs
ORDER BY greatest(auc, 1 - auc) DESC, contrast, feature;
