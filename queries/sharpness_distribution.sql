-- Sharpness of the face region per attack_type (Laplacian variance and the Android app's count) and the Android gate's rejections.
-- Statistics are over frames with a score (frames without a face region have none; `scored` counts the others);
-- gate_fail counts frames with sharpness_count < $gate ("too blurry, retake"), gate_fail_share is over scored frames.
-- Quantiles are linear (quantile_cont).
-- Parameters:
--   $gate = 1000: the Android blur gate (a frame with a lower sharpness_count fails it)
WITH scores AS (
    SELECT
        attack_type,
        CAST(sharpness_lapvar AS DOUBLE) AS lapvar,
        CAST(sharpness_count AS DOUBLE)  AS sharp_count
    FROM frames
)
SELECT
    attack_type,
    count(*)                              AS frames,
    count(sharp_count)                    AS scored,
    avg(lapvar)                           AS lapvar_mean,
    quantile_cont(lapvar, 0.25)           AS lapvar_p25,
    quantile_cont(lapvar, 0.50)           AS lapvar_p50,
    quantile_cont(lapvar, 0.75)           AS lapvar_p75,
    avg(sharp_count)                      AS count_mean,
    quantile_cont(sharp_count, 0.25)      AS count_p25,
    quantile_cont(sharp_count, 0.50)      AS count_p50,
    quantile_cont(sharp_count, 0.75)      AS count_p75,
    count(*) FILTER (WHERE sharp_count < $gate)                                        AS gate_fail,
    count(*) FILTER (WHERE sharp_count < $gate) / nullif(count(sharp_count), 0)        AS gate_fail_share
FROM scores
GROUP BY attack_type
ORDER BY attack_type NULLS LAST;
