-- Test-split identities that look like a training identity under another id (train/test leakage).
-- similarity: highest cosine over face pairs; centroid: cosine of the identities' mean faces.
-- Parameters: none.
SELECT
    "first"                            AS test_identity,
    "second"                           AS train_identity,
    round(max_similarity, 4)           AS similarity,
    round(centroid_similarity, 4)      AS centroid,
    pairs_above,
    face_pairs,
    model
FROM identity_pairs
WHERE kind = 'leakage' AND linked
ORDER BY max_similarity DESC, "first", "second";
