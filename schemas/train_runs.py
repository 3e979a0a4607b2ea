"""`train_runs`: one row per trained model (one per protocol fold of a `facelake train`)."""

import pyarrow as pa

from schemas.spec import TableSpec

TRAIN_RUNS = TableSpec(
    name="train_runs",
    version=1,
    schema=pa.schema(
        [
            pa.field("train_id", pa.string(), nullable=False),  # run id + protocol
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("protocol", pa.string(), nullable=False),  # P1, P2.3, P3.1 ...
            pa.field("frames_version", pa.int64()),  # the frames table version read
            pa.field("backbone", pa.string()),
            pa.field("input_size", pa.int32()),
            pa.field("epochs_run", pa.int32()),
            pa.field("best_epoch", pa.int32()),
            pa.field("best_val_loss", pa.float64()),
            pa.field("threshold", pa.float64()),  # chosen on validation (EER), never on test
            pa.field("frame_acer", pa.float64()),
            pa.field("video_acer", pa.float64()),
            pa.field("frame_auc", pa.float64()),
            pa.field("frame_eer", pa.float64()),
            pa.field("counts_json", pa.string()),
            pa.field("metrics_json", pa.string()),
            pa.field("model_dir", pa.string()),
            pa.field("created_at", pa.timestamp("us", tz="UTC")),
        ]
    ),
)
