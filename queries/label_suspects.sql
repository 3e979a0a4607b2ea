-- Faces whose label is suspect: nearer another identity's centroid than their own identity's centroid without them.
-- suspect_score = other_centroid - own_centroid (cosines; above the run's margin); most suspect first.
-- nearest_other_key / max_negative: the other identity's face it resembles most; min_positive: its least similar own face.
-- Parameters: none.
SELECT
    source,
    face_key,
    identity,
    round(suspect_score, 4)             AS suspect_score,
    round(own_centroid_similarity, 4)   AS own_centroid,
    round(other_centroid_similarity, 4) AS other_centroid,
    nearest_other_centroid,
    round(min_positive, 4)              AS min_positive,
    round(max_negative, 4)              AS max_negative,
    nearest_other_identity,
    nearest_other_key,
    model
FROM label_checks
WHERE suspect
ORDER BY suspect_score DESC, face_key;
