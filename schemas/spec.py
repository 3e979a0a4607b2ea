"""The contract of one Delta table: name, schema, partition columns, schema version."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class TableSpec:
    name: str
    schema: pa.Schema
    partition_by: tuple[str, ...] = ()
    version: int = 1
    # encoded images: written without dictionary encoding or min/max statistics, which
    # cost CPU on the committing driver and mean nothing for PNG/JPEG bytes
    blob_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        missing = [c for c in self.partition_by + self.blob_columns if c not in self.schema.names]
        if missing:
            raise ValueError(f"table {self.name!r}: partition/blob columns {missing} are not in its schema")
