"""`runs`: one row per job run: what it read, wrote and counted, and how it ended.

status: running (written at start; stays so if the driver died) | succeeded | failed |
interrupted. Counts and arguments are JSON strings so every job can add its own keys.
"""

import pyarrow as pa

from schemas.spec import TableSpec

RUNS = TableSpec(
    name="runs",
    version=1,
    schema=pa.schema(
        [
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("job", pa.string(), nullable=False),
            pa.field("status", pa.string(), nullable=False),
            pa.field("started_at", pa.timestamp("us", tz="UTC")),
            pa.field("ended_at", pa.timestamp("us", tz="UTC")),
            pa.field("source", pa.string()),
            pa.field("args_json", pa.string()),
            pa.field("counts_json", pa.string()),
            pa.field("error", pa.string()),
            pa.field("facelake_version", pa.string()),
            pa.field("hostname", pa.string()),
        ]
    ),
)
