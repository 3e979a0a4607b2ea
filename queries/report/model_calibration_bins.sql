-- Reliability of one model's scores on one part: faces per score bin of width 1/$bins, their mean score
-- and the share of them that are attacks (a calibrated P(spoof) has the two equal). Bins without faces are left out.
-- Parameters:
--   $train_id = NULL: the model (scores.train_id)
--   $part = 'test': the protocol part: train, validation, test or unseen
--   $bins = 10: number of equal-width score bins over [0, 1]
SELECT
    least(floor(score * $bins), $bins - 1)::INTEGER     AS bin,
    count(*)                                            AS faces,
    avg(score)                                          AS mean_score,
    avg(CASE WHEN label = 'spoof' THEN 1.0 ELSE 0.0 END) AS spoof_rate
FROM scores
WHERE train_id = $train_id AND part = $part
GROUP BY ALL
ORDER BY bin;
