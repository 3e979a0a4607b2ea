-- Merge groups found by dedup: which identities are one person, under which canonical id.
-- state: active (readers resolve the members to canonical_id) | undone (a person said no).
-- Parameters: none.
SELECT
    source,
    model,
    group_id,
    canonical_id,
    string_agg(identity, ', ' ORDER BY identity)   AS members,
    any_value(group_size)                          AS group_size,
    any_value(state)                               AS state,
    any_value(run_id)                              AS run_id
FROM identity_merges
GROUP BY source, model, group_id, canonical_id
ORDER BY source, model, group_id;
