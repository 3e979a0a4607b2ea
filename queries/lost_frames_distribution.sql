-- Distribution of lost frames (frames minus ok frames) per video, as the original SiW scripts' `tt['sub'].describe()`.
-- Over videos that have frames; std is the sample standard deviation, quantiles are linear (quantile_cont), like pandas.
-- Parameters: none.
WITH per_video AS (
    SELECT
        video_id,
        count(*) - count(*) FILTER (WHERE det_status = 'ok') AS lost
    FROM frames
    GROUP BY video_id
)
SELECT
    count(*)                      AS count,
    avg(lost)                     AS mean,
    stddev_samp(lost)             AS std,
    min(lost)                     AS min,
    quantile_cont(lost, 0.25)     AS p25,
    quantile_cont(lost, 0.50)     AS p50,
    quantile_cont(lost, 0.75)     AS p75,
    max(lost)                     AS max
FROM per_video
ORDER BY count;
