"""`frames`: one row per decoded frame of a processed video.

det_status vocabulary: ok (a face at or above the accept score, aligned) | no_face (the
detector found none) | low_score (best face below the accept score).
face_box_source: face_file (as read) | repaired (a repaired .face line) | zero_box (the
annotator wrote 0 0 0 0) | missing_line (the .face file has no line for this frame) |
unparseable (the line could not be read) | no_face_file.
Sharpness is scored on the face region of the frame (the detected box, else the .face
box): Laplacian variance, and the notes' Android count (256x256, signed response > 50).
Brightness and contrast (mean and standard deviation of BT.601 luma, `etl.faces.photometry`):
face_* over the detected face box, null when the detector found no face; background_* outside
that box on a grey copy of the frame shrunk to 160 px, over the whole frame when no face was
found. Rows written before these columns existed read them as null.
"""

import pyarrow as pa

from schemas.spec import TableSpec

FRAMES = TableSpec(
    name="frames",
    version=1,
    partition_by=("split", "label"),
    blob_columns=("aligned", "crop"),
    schema=pa.schema(
        [
            pa.field("video_id", pa.string(), nullable=False),
            pa.field("frame_index", pa.int32(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            pa.field("label", pa.string(), nullable=False),
            pa.field("attack_type", pa.string()),
            pa.field("subject", pa.int32()),
            pa.field("sensor", pa.int32()),
            pa.field("medium", pa.int32()),
            pa.field("session", pa.int32()),
            pa.field("face_box", pa.list_(pa.int32())),  # x1 y1 x2 y2 from .face; null when absent
            pa.field("face_box_source", pa.string()),
            pa.field("det_status", pa.string(), nullable=False),
            pa.field("det_source", pa.string()),  # roi | full_frame | onet_track | onet_face_box; null: none found
            pa.field("det_score", pa.float32()),
            pa.field("det_box", pa.list_(pa.float32())),  # x1 y1 x2 y2 in frame pixels
            pa.field("landmarks", pa.list_(pa.list_(pa.float32()))),  # 5 x [x, y]
            pa.field("aligned", pa.binary()),  # 112x112 PNG, null unless det_status = ok
            pa.field("crop", pa.binary()),  # optional .face-box crop (jpeg/png)
            pa.field("crop_format", pa.string()),
            pa.field("sharpness_lapvar", pa.float32()),
            pa.field("sharpness_count", pa.int32()),
            pa.field("face_brightness", pa.float32()),  # luma mean over the detected box; null: no face found
            pa.field("face_contrast", pa.float32()),  # luma std over the detected box
            pa.field("background_brightness", pa.float32()),  # luma mean outside it (whole frame: no face)
            pa.field("background_contrast", pa.float32()),  # luma std outside it
            pa.field("detector", pa.string()),
            pa.field("detector_version", pa.string()),
            pa.field("run_id", pa.string()),
        ]
    ),
)
