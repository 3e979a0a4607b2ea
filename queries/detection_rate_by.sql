-- Detection rate (ok frames / frames) grouped by one dimension of the frames.
-- Sensor and medium values are shown as text.
-- Parameters:
--   $dimension = 'attack_type': the frames column to group by: split, label, attack_type, sensor or medium
WITH chosen AS (
    SELECT
        $dimension AS dimension,
        CASE $dimension
            WHEN 'split'       THEN split
            WHEN 'label'       THEN label
            WHEN 'attack_type' THEN attack_type
            WHEN 'sensor'      THEN CAST(sensor AS VARCHAR)
            WHEN 'medium'      THEN CAST(medium AS VARCHAR)
            ELSE error('detection_rate_by: dimension must be one of split, label, attack_type, sensor, medium; got ' || coalesce($dimension, 'NULL'))
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
