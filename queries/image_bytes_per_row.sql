-- Encoded image bytes per frame row (aligned PNGs, and crops when stored) per split/label, projected to the full SiW dataset.
-- Projection as in the original SiW scripts (mean size x count): each group's bytes are scaled by $full_frames / frames in the lake,
-- i.e. projected = mean bytes x (images per frame in the lake x $full_frames); the '(all)' row is the total.
-- Crop columns are NULL/0 when the lake holds no crops (ingest --crops none, the default).
-- Parameters:
--   $full_frames = 2000000: the number of frames to project to (2000000: the order of SiW's frame count)
WITH sized AS (
    SELECT split, label, octet_length(aligned) AS aligned_bytes, octet_length(crop) AS crop_bytes
    FROM frames
),
scale AS (
    SELECT $full_frames / nullif(count(*), 0) AS factor FROM frames
)
SELECT
    CASE WHEN grouping(split) = 1 THEN '(all)' ELSE split END AS split,
    CASE WHEN grouping(label) = 1 THEN '(all)' ELSE label END AS label,
    count(*)                                   AS frames,
    count(aligned_bytes)                       AS aligned_images,
    avg(aligned_bytes)                         AS aligned_mean_bytes,
    CAST(coalesce(sum(aligned_bytes), 0) AS BIGINT) AS aligned_total_bytes,
    count(crop_bytes)                          AS crop_images,
    avg(crop_bytes)                            AS crop_mean_bytes,
    CAST(coalesce(sum(crop_bytes), 0) AS BIGINT)    AS crop_total_bytes,
    coalesce(sum(aligned_bytes), 0) * any_value(scale.factor) / 1e9 AS projected_aligned_gb,
    sum(crop_bytes) * any_value(scale.factor) / 1e9                 AS projected_crop_gb
FROM sized CROSS JOIN scale
GROUP BY GROUPING SETS ((split, label), ())
ORDER BY grouping(split, label), split, label;
