-- Every embedded identity resolved through the active merges: the identity to train or match with.
-- faces: vectors of that identity for that model; canonical_id equals identity when not merged.
-- Parameters: none.
SELECT
    e.source,
    e.model,
    e.identity,
    coalesce(m.canonical_id, e.identity)   AS canonical_id,
    count(*)                               AS faces
FROM embeddings AS e
LEFT JOIN identity_merges AS m
    ON m.source = e.source AND m.model = e.model AND m.identity = e.identity AND m.state = 'active'
GROUP BY ALL
ORDER BY e.source, e.model, canonical_id, e.identity;
