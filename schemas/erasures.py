"""`erasures`: one row per `facelake forget`: who was erased (as a hash), when, and what went.

No personal data: the person is `person_sha256`, the hex sha256 of the subject id as a
plain decimal ("7", not "007") or of the registry user name exactly as filed (UTF-8).
An auditor checks that a given person was erased by hashing the id the same way, e.g.
`printf %s 7 | sha256sum` for subject 7. The hash is a pseudonym, not anonymisation:
small id spaces (SiW subject numbers) can be enumerated by anyone holding the lake.

status: erased (rows were removed and history vacuumed) | nothing_found (no table held
the person; nothing changed). `tables` has one entry per table in the erasure's scope:
rows removed (`runs`: rows whose names were redacted instead), files vacuumed, and the
versions before and after; time travel to any version up to `version_before` is gone for
the person (it fails, or, where a version's files all survive, holds none of their rows).
`models_not_retrained`: train runs that read a `frames` version holding the person (or
one that can no longer be read to check); their metrics stay in `train_runs` and their
models, trained on the person's frames, are not retrained.
"""

import pyarrow as pa

from schemas.spec import TableSpec
from schemas.vocabulary import ErasureKind, ErasureStatus, values

ERASURE_KINDS = values(ErasureKind)
ERASURE_STATUSES = values(ErasureStatus)

ERASED_TABLE = pa.struct(
    [
        pa.field("table", pa.string()),
        pa.field("rows_removed", pa.int64()),
        pa.field("rows_redacted", pa.int64()),  # runs only: rows kept with the person's names replaced
        pa.field("files_vacuumed", pa.int64()),
        pa.field("bytes_vacuumed", pa.int64()),  # null where delta-rs did not say
        pa.field("version_before", pa.int64()),
        pa.field("version_after", pa.int64()),
    ]
)

ERASURES = TableSpec(
    name="erasures",
    version=1,
    schema=pa.schema(
        [
            pa.field("erasure_id", pa.string(), nullable=False),
            pa.field("requested_at", pa.timestamp("us", tz="UTC")),
            pa.field("completed_at", pa.timestamp("us", tz="UTC")),
            pa.field("kind", pa.string(), nullable=False),  # subject | user
            pa.field("person_sha256", pa.string(), nullable=False),
            pa.field("status", pa.string(), nullable=False),  # erased | nothing_found
            pa.field("rows_removed", pa.int64()),
            pa.field("rows_redacted", pa.int64()),
            pa.field("files_vacuumed", pa.int64()),
            pa.field("bytes_vacuumed", pa.int64()),
            pa.field("tables", pa.list_(ERASED_TABLE)),
            pa.field("models_not_retrained", pa.list_(pa.string())),  # train_ids
            pa.field("source_files_present", pa.int64()),  # the person's source files still on disk
            pa.field("note", pa.string()),
            pa.field("run_id", pa.string()),
        ]
    ),
)
