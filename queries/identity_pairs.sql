-- Identities that look like one person, as the original SiW scripts print them (first, second, similarity), with the evidence.
-- similarity: the highest cosine over all face pairs of the two; centroid: cosine of their mean faces;
-- pairs_above: face pairs above the threshold, of face_pairs compared. linked: merged by the last dedup.
-- Parameters: none.
SELECT
    "first",
    "second",
    round(max_similarity, 4)          AS similarity,
    round(centroid_similarity, 4)     AS centroid,
    pairs_above,
    face_pairs,
    linked,
    source,
    model,
    linkage,
    threshold
FROM identity_pairs
WHERE kind = 'duplicate'
ORDER BY linked DESC, max_similarity DESC, "first", "second";
