-- Faces whose label is suspect: closer to another identity than to the farthest face of their own.
-- min_positive: lowest cosine to a face of its own (merged) identity; max_negative: highest to any other.
-- Parameters: none.
SELECT
    source,
    face_key,
    identity,
    round(min_positive, 4)     AS min_positive,
    round(max_negative, 4)     AS max_negative,
    nearest_other_identity,
    nearest_other_key,
    model
FROM label_checks
WHERE suspect
ORDER BY max_negative - min_positive DESC, face_key;
