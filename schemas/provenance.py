"""`processed_on`: where a video or photo was processed (the Ray node, its host, its GPUs).

Null for rows the driver wrote without processing the file (a bad name, a duplicate, an
empty file) and for a task whose worker died before it could say.
"""

import pyarrow as pa

PROCESSED_ON = pa.struct(
    [
        pa.field("node_id", pa.string()),  # Ray node id (hex); null outside Ray
        pa.field("host", pa.string()),  # the host name of the process that did the work
        pa.field("node_ip", pa.string()),  # the Ray node's address; null outside Ray
        pa.field("gpus", pa.list_(pa.string())),  # the GPUs the task held ("0: NVIDIA H200"); empty on CPU
    ]
)
