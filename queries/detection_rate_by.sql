-- Detection rate (ok frames / frames) grouped by one dimension of the frames.
-- Parameters: $dimension (one of split, label, attack_type, sensor, medium; default 'attack_type';
--   any other value is an error). Sensor and medium values are shown as text.
WITH chosen AS (
    SELECT
        coalesce($dimension, 'attack_type') AS dimension,
        CASE coalesce($dimension, 'attack_type')
            WHEN 'split'       THEN split
            WHEN 'label'       THEN label
            WHEN 'attack_type' THEN attack_type
            WHEN 'sensor'      THEN CAST(sensor AS VARCHAR)
            WHEN 'medium'      THEN CAST(medium AS VARCHAR)
            ELSE error('detection_rate_by: dimension must be one of split, label, attack_type, sensor, medium; got ' || $dimension)
        END AS value,
        det_status
    FROM frames
)
SELECT
    dimension,
    value,
    count(*)                                    AS frames,
    count(*) FILTER (WHERE det_status = 'ok')   AS ok,
    count(*) FILTER (WHERE det_status = 'ok') / count(*) AS rate
FROM chosen
GROUP BY dimension, value
ORDER BY try_cast(value AS INTEGER) NULLS LAST, value NULLS LAST;
