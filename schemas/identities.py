"""Identity cleaning results of `facelake dedup`: evidence, merges and label checks.

`identity_pairs`: candidate identity pairs with their evidence, one set per (source,
model, kind), replaced by each dedup run (older sets stay in the table's history).
kind: duplicate (two identities that look like one person) | leakage (a test identity
that looks like a training identity under another id; `first` is the test one).
`linked`: the linkage rule links the pair. `decision` (duplicates): merged, review (linked
through fewer faces of an identity than the run's min_faces: `lone_faces` names them; one
photo filed under the wrong user looks like this) or not_linked.

`identity_merges`: one row per member of a merge group. `canonical_id` is the member
with the most faces (ties: the smallest name). Sources are never rewritten: readers
resolve identities through the active rows. state: active | undone (a person decided
the group is not one person; a later dedup that finds the same group keeps it undone).

`label_checks`: one row per face. The verdict: its (merged) identity's centroid without it
(`own_centroid_similarity`) against the nearest other identity's centroid
(`other_centroid_similarity`, `nearest_other_centroid`); `suspect_score` = other - own,
`suspect` when it is above the run's margin. The evidence of the notes' rule beside it: the
lowest similarity to a face of its own identity (`min_positive`), the highest to any other
(`max_negative`, `nearest_other_key`), and `face_suspect` when the negative beats the
positive (one misfiled photo sets that flag on many genuine faces; the verdict does not).
"""

import pyarrow as pa

from schemas.spec import TableSpec

EXAMPLE_PAIR = pa.struct(
    [
        pa.field("first_key", pa.string()),
        pa.field("second_key", pa.string()),
        pa.field("similarity", pa.float32()),
    ]
)

_SETTINGS = [
    pa.field("source", pa.string(), nullable=False),
    pa.field("model", pa.string(), nullable=False),
    pa.field("linkage", pa.string()),
    pa.field("threshold", pa.float32()),
]

IDENTITY_PAIRS = TableSpec(
    name="identity_pairs",
    version=1,
    schema=pa.schema(
        [
            *_SETTINGS,
            pa.field("kind", pa.string(), nullable=False),
            pa.field("first", pa.string(), nullable=False),
            pa.field("second", pa.string(), nullable=False),
            pa.field("max_similarity", pa.float32()),
            pa.field("centroid_similarity", pa.float32()),
            pa.field("pairs_above", pa.int64()),
            pa.field("face_pairs", pa.int64()),
            pa.field("example_pairs", pa.list_(EXAMPLE_PAIR)),
            pa.field("linked", pa.bool_(), nullable=False),
            pa.field("run_id", pa.string()),
            pa.field("created_at", pa.timestamp("us", tz="UTC")),
            # added with review candidates (null in rows written before, and for leakage pairs)
            pa.field("decision", pa.string()),
            pa.field("lone_faces", pa.list_(pa.string())),
        ]
    ),
)

IDENTITY_MERGES = TableSpec(
    name="identity_merges",
    version=1,
    schema=pa.schema(
        [
            *_SETTINGS,
            pa.field("group_id", pa.string(), nullable=False),
            pa.field("identity", pa.string(), nullable=False),
            pa.field("canonical_id", pa.string(), nullable=False),
            pa.field("group_size", pa.int32()),
            pa.field("state", pa.string(), nullable=False),
            pa.field("run_id", pa.string()),
            pa.field("decided_at", pa.timestamp("us", tz="UTC")),
        ]
    ),
)

LABEL_CHECKS = TableSpec(
    name="label_checks",
    version=1,
    schema=pa.schema(
        [
            *_SETTINGS,
            pa.field("face_key", pa.string(), nullable=False),
            pa.field("identity", pa.string(), nullable=False),  # after active merges
            pa.field("min_positive", pa.float32()),
            pa.field("max_negative", pa.float32()),
            pa.field("nearest_other_identity", pa.string()),
            pa.field("nearest_other_key", pa.string()),
            pa.field("suspect", pa.bool_(), nullable=False),
            # added with the centroid verdict (null in rows written before it)
            pa.field("face_suspect", pa.bool_()),
            pa.field("own_centroid_similarity", pa.float32()),
            pa.field("other_centroid_similarity", pa.float32()),
            pa.field("nearest_other_centroid", pa.string()),
            pa.field("suspect_score", pa.float32()),
            pa.field("run_id", pa.string()),
        ]
    ),
)
