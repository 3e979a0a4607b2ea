-- Shortcuts: per SiW protocol, how well each feature that is not liveness alone tells attacks from live faces on the protocol's test part (AUC), and a small model of them all.
-- One row per (protocol, feature) over the frames with an aligned face (det_status ok). Protocol parts as etl/train/protocols.py:
-- P1 tests every test-split frame (attacks vs live) and trains on frames before $p1_frames of train-split videos; P2.K tests live +
-- replay of medium K (test split), trains on live + replay of other media (train split); P3.1 tests live + replay, trains on
-- live + print; P3.2 the reverse. P1, P3.1 and P3.2 are also the all-attacks, replay-only and print-only views of the test split.
-- A protocol whose test part lacks attack or live frames has no rows (in the sample: P2.1 and P2.2, whose media are only in Train).
-- Features: sharpness (lapvar, Android count), detector score, face size and centre (share of the frame), IoU of the .face and
-- detected boxes, brightness and contrast of the face and of the background, frame index, sensor / medium / session codes,
-- video bitrate and resolution (video features repeat on each frame of the video).
-- auc = P(an attack frame's value > a live frame's value), ties count half (Mann-Whitney); strength = max(auc, 1 - auc):
-- 0.5 says nothing, 1.0 separates them perfectly. A flagged feature lets a model score well without learning liveness.
-- Codes (sensor, medium, session) are ordered numbers here: a strength near 1 says attack and live codes barely overlap.
-- A feature is flagged only when each side holds at least $min_videos videos: with one attack video every value that is
-- constant per video (bitrate, codes) separates perfectly and any other measures that one video, not attacks; such a row
-- keeps its AUC and says why it is not flagged.
-- feature 'combined': a diagonal linear discriminant fitted on the protocol's train part (validation subjects included): per
-- feature, weight = (attack mean - live mean) / within-class variance (population variances of the two classes, pooled by
-- frame counts); a test frame's score = sum of weight * (value - midpoint of the two means), a missing value adding 0;
-- features constant on the train part get no weight. Its AUC on the test part says how well the features together predict label.
-- Parameters:
--   $flag = 0.8: a strength at or above this is flagged
--   $p1_frames = 60: P1 trains on the frames before this index of each train-split video
--   $min_videos = 2: a feature is flagged only when the test part holds at least this many attack and live videos
WITH base AS (
    SELECT
        f.video_id,
        f.frame_index                                                                  AS frame_key,
        f.split,
        f.label,
        f.attack_type,
        f.medium                                                                       AS attack_medium,
        CAST(f.det_box[1] AS DOUBLE) AS bx1, CAST(f.det_box[2] AS DOUBLE) AS by1,
        CAST(f.det_box[3] AS DOUBLE) AS bx2, CAST(f.det_box[4] AS DOUBLE) AS by2,
        CAST(f.face_box[1] AS DOUBLE) AS ax1, CAST(f.face_box[2] AS DOUBLE) AS ay1,
        CAST(f.face_box[3] AS DOUBLE) AS ax2, CAST(f.face_box[4] AS DOUBLE) AS ay2,
        CAST(f.sharpness_lapvar AS DOUBLE)                                             AS sharpness_lapvar,
        CAST(f.sharpness_count AS DOUBLE)                                              AS sharpness_count,
        CAST(f.det_score AS DOUBLE)                                                    AS det_score,
        CAST(f.face_brightness AS DOUBLE)                                              AS face_brightness,
        CAST(f.face_contrast AS DOUBLE)                                                AS face_contrast,
        CAST(f.background_brightness AS DOUBLE)                                        AS background_brightness,
        CAST(f.background_contrast AS DOUBLE)                                          AS background_contrast,
        CAST(f.frame_index AS DOUBLE)                                                  AS frame_index,
        CAST(f.sensor AS DOUBLE)                                                       AS sensor,
        CAST(f.medium AS DOUBLE)                                                       AS medium,
        CAST(v.session AS DOUBLE)                                                      AS session,
        v.size_bytes * 8.0 / nullif(v.stream_frames / nullif(v.fps, 0), 0)            AS bitrate,
        CAST(v.width AS DOUBLE) * v.height                                             AS resolution,
        CAST(v.width AS DOUBLE)                                                        AS vw,
        CAST(v.height AS DOUBLE)                                                       AS vh
    FROM frames AS f
    JOIN videos AS v USING (video_id)
    WHERE f.det_status = 'ok'
),
features AS (
    SELECT
        video_id, frame_key, split, label, attack_type, attack_medium,
        sharpness_lapvar,
        sharpness_count,
        det_score,
        (bx2 - bx1) / nullif(vw, 0)                                                    AS face_width,
        (by2 - by1) / nullif(vh, 0)                                                    AS face_height,
        (bx1 + bx2) / 2.0 / nullif(vw, 0)                                              AS face_center_x,
        (by1 + by2) / 2.0 / nullif(vh, 0)                                              AS face_center_y,
        -- IoU of the .face box and the detected box (null when the .face box is missing or both are empty)
        greatest(0.0, least(ax2, bx2) - greatest(ax1, bx1)) * greatest(0.0, least(ay2, by2) - greatest(ay1, by1))
            / nullif((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1)
                     - greatest(0.0, least(ax2, bx2) - greatest(ax1, bx1))
                       * greatest(0.0, least(ay2, by2) - greatest(ay1, by1)), 0)      AS face_box_iou,
        face_brightness,
        face_contrast,
        background_brightness,
        background_contrast,
        frame_index,
        sensor,
        medium,
        session,
        bitrate,
        resolution
    FROM base
),
-- every frame in each protocol part it belongs to (part: train or test)
parts AS (
    SELECT 'P1' AS protocol, CASE split WHEN 'test' THEN 'test' ELSE 'train' END AS part, *
    FROM features
    WHERE split = 'test' OR (split = 'train' AND frame_key < $p1_frames)
    UNION ALL
    SELECT 'P2.' || fold.k AS protocol, split AS part, features.*
    FROM features, range(1, 5) AS fold(k)
    WHERE split IN ('train', 'test')
      AND (attack_type = 'live'
           OR (attack_type = 'replay' AND split = 'test' AND attack_medium = fold.k)
           OR (attack_type = 'replay' AND split = 'train' AND attack_medium <> fold.k))
    UNION ALL
    SELECT 'P3.1' AS protocol, split AS part, *
    FROM features
    WHERE (split = 'train' AND attack_type IN ('live', 'print')) OR (split = 'test' AND attack_type IN ('live', 'replay'))
    UNION ALL
    SELECT 'P3.2' AS protocol, split AS part, *
    FROM features
    WHERE (split = 'train' AND attack_type IN ('live', 'replay')) OR (split = 'test' AND attack_type IN ('live', 'print'))
),
long AS (
    SELECT protocol, part, label, video_id, frame_key, feature, value
    FROM (
        UNPIVOT (SELECT * EXCLUDE (split, attack_type, attack_medium) FROM parts)
        ON COLUMNS(* EXCLUDE (protocol, part, label, video_id, frame_key))
        INTO NAME feature VALUE value
    )
    WHERE value IS NOT NULL AND isfinite(value)
),
-- the combined model: per protocol and feature, class means and variances on the train part
fit AS (
    SELECT
        protocol,
        feature,
        avg(value) FILTER (WHERE label = 'spoof')     AS attack_mean,
        avg(value) FILTER (WHERE label = 'live')      AS live_mean,
        (coalesce(var_pop(value) FILTER (WHERE label = 'spoof'), 0) * count(*) FILTER (WHERE label = 'spoof')
         + coalesce(var_pop(value) FILTER (WHERE label = 'live'), 0) * count(*) FILTER (WHERE label = 'live'))
            / count(*)                                AS variance
    FROM long
    WHERE part = 'train'
    GROUP BY protocol, feature
),
weights AS (
    SELECT protocol, feature, (attack_mean - live_mean) / variance AS weight, (attack_mean + live_mean) / 2.0 AS midpoint
    FROM fit
    WHERE attack_mean IS NOT NULL AND live_mean IS NOT NULL AND variance > 0
),
combined AS (
    SELECT l.protocol, l.label, l.video_id, 'combined' AS feature, sum(w.weight * (l.value - w.midpoint)) AS value
    FROM long AS l
    JOIN weights AS w USING (protocol, feature)
    WHERE l.part = 'test'
    GROUP BY l.protocol, l.label, l.video_id, l.frame_key
),
scored AS (
    SELECT protocol, label, video_id, feature, value FROM long WHERE part = 'test'
    UNION ALL
    SELECT protocol, label, video_id, feature, value FROM combined
),
ranked AS (
    SELECT
        protocol,
        feature,
        label,
        video_id,
        -- the average rank of tied values (1-based), as the Mann-Whitney U statistic needs
        rank() OVER (PARTITION BY protocol, feature ORDER BY value)
            + (count(*) OVER (PARTITION BY protocol, feature, value) - 1) / 2.0 AS avg_rank
    FROM scored
),
sums AS (
    SELECT
        protocol,
        feature,
        count(*) FILTER (WHERE label = 'spoof')           AS attack_frames,
        count(*) FILTER (WHERE label = 'live')            AS live_frames,
        count(DISTINCT video_id) FILTER (WHERE label = 'spoof') AS attack_videos,
        count(DISTINCT video_id) FILTER (WHERE label = 'live')  AS live_videos,
        sum(avg_rank) FILTER (WHERE label = 'spoof')      AS attack_rank_sum
    FROM ranked
    GROUP BY protocol, feature
),
aucs AS (
    SELECT
        protocol,
        feature,
        attack_frames,
        live_frames,
        attack_videos,
        live_videos,
        attack_videos >= $min_videos AND live_videos >= $min_videos AS enough_videos,
        (attack_rank_sum - attack_frames * (attack_frames + 1) / 2.0) / (attack_frames * live_frames) AS auc
    FROM sums
    WHERE attack_frames > 0 AND live_frames > 0
)
SELECT
    protocol,
    feature,
    attack_frames,
    live_frames,
    attack_videos,
    live_videos,
    round(auc, 4)                                   AS auc,
    round(greatest(auc, 1 - auc), 4)                AS strength,
    greatest(auc, 1 - auc) >= $flag AND enough_videos AS flagged,
    CASE
        WHEN greatest(auc, 1 - auc) >= $flag AND NOT enough_videos THEN
            'not flagged: strong on ' || protocol || '''s test part, but it holds ' || attack_videos || ' attack and '
            || live_videos || ' live video(s), fewer than ' || $min_videos || ' a side: one video''s look, not yet a shortcut'
        WHEN greatest(auc, 1 - auc) >= $flag AND feature = 'medium' THEN
            'medium codes name the attack instrument on attacks and capture conditions on live faces: '
            || 'expected to differ; a problem only if the images carry the code (a border, a device)'
        WHEN greatest(auc, 1 - auc) >= $flag AND feature = 'combined' THEN
            'the features together, weighted on ' || protocol || '''s train part, tell its test attacks from live faces ('
            || (CASE WHEN auc >= 0.5 THEN 'as trained' ELSE 'reversed from training' END)
            || '): a model can score well here without learning liveness'
        WHEN greatest(auc, 1 - auc) >= $flag THEN
            feature || ' alone tells ' || protocol || '''s test attacks from live faces ('
            || (CASE WHEN auc >= 0.5 THEN 'higher' ELSE 'lower' END)
            || ' on attacks): a model can score well here by learning it instead of liveness'
        ELSE ''
    END                                             AS meaning
FROM aucs
ORDER BY protocol, greatest(auc, 1 - auc) DESC, feature;
