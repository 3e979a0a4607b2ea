"""`scores`: one row per (face, trained model): a live/spoof model's score of an `ok` frame.

Written by `facelake score`. `train_id` is the model's `train_runs` key ("<run id>/<protocol>").
`part` is the protocol part the face belonged to *for that model*: `train` and `validation`
(it learned from, or chose its threshold on, the face), `test` (held out by the protocol) or
`unseen` (outside the protocol, or ingested after the model's frames version). Only `test`
and `unseen` scores say anything about how the model generalises. The label columns are copied
from `frames` when scored, so error slices need no join; `frames_run_id` is the ingest run
that wrote the face, so a re-ingested face is scored again.
"""

import pyarrow as pa

from schemas.spec import TableSpec

SCORES = TableSpec(
    name="scores",
    version=1,
    schema=pa.schema(
        [
            pa.field("train_id", pa.string(), nullable=False),
            pa.field("protocol", pa.string(), nullable=False),  # P1, P2.3, ... (the model's)
            pa.field("face_key", pa.string(), nullable=False),  # "<video_id>#<frame_index>"
            pa.field("video_id", pa.string(), nullable=False),
            pa.field("frame_index", pa.int32(), nullable=False),
            pa.field("split", pa.string(), nullable=False),  # the dataset's train/test split
            pa.field("part", pa.string(), nullable=False),  # train | validation | test | unseen (ScorePart)
            pa.field("label", pa.string(), nullable=False),  # live | spoof
            pa.field("attack_type", pa.string()),  # live | print | replay
            pa.field("subject", pa.int32()),
            pa.field("sensor", pa.int32()),
            pa.field("medium", pa.int32()),
            pa.field("session", pa.int32()),
            pa.field("score", pa.float32(), nullable=False),  # P(spoof)
            pa.field("threshold", pa.float64(), nullable=False),  # the model's frame threshold
            pa.field("decision", pa.string(), nullable=False),  # spoof when score >= threshold, else live
            pa.field("model_format", pa.string()),  # keras | tflite | tflite_int8
            pa.field("frames_run_id", pa.string()),  # the ingest run that wrote the face
            pa.field("run_id", pa.string()),  # the score run
            pa.field("created_at", pa.timestamp("us", tz="UTC")),
        ]
    ),
)
