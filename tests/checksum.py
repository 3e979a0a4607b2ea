"""Order-independent content checksums of lake tables, for proving reruns and recoveries
end with exactly the contents of a clean run."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pyarrow as pa

# Columns that name the run, the moment or the machine that wrote a row, not what the row holds.
RUN_COLUMNS = ("run_id", "processed_at", "processed_on", "ingested_at", "created_at")


def table_checksum(table: pa.Table, *, keys: Sequence[str], exclude: Sequence[str] = RUN_COLUMNS) -> str:
    """blake2b of the rows sorted by `keys`, over every column not in `exclude`.

    Duplicated rows change the checksum (they are hashed twice), so it catches
    duplicates as well as losses and changed values.
    """
    columns = sorted(c for c in table.column_names if c not in exclude)
    ordered = table.sort_by([(k, "ascending") for k in keys]).select(columns)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr(columns).encode())
    digest.update(str(ordered.num_rows).encode())
    for batch in ordered.to_batches(max_chunksize=4096):
        for row in batch.to_pylist():
            digest.update(repr([row[c] for c in columns]).encode())
    return digest.hexdigest()
