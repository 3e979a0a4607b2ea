"""`photos`: one row per file found in a registration photo tree `<root>/<user>/<file>`.

status vocabulary:
  ok            decoded; `route` says what detection found
  empty_file    zero bytes; not processed
  unreadable    the file could not be read (permissions, I/O error, a symlink loop) or is
                not a regular file (a named pipe is never opened)
  bad_name      the path is not valid UTF-8 (shown with \\xNN escapes); not processed
  not_image     the bytes are not a decodable JPEG/PNG
  error         processing raised an unexpected error (the reason holds it)
route (status ok only), as in the notes' clean-up:
  single  exactly one face: aligned and stored, the only route that gets embedded
  multi   more than one face: kept for review, with every box and score
  none    no face, also after the second detector pass
`detect_pass` says which pass found the faces (first | second). Sources are never
edited; `source_present` turns false when a later scan no longer finds the file.
"""

import pyarrow as pa

from schemas.provenance import PROCESSED_ON
from schemas.spec import TableSpec
from schemas.vocabulary import PhotoRoute, PhotoStatus, values

PHOTO_STATUSES = values(PhotoStatus)
PHOTO_ROUTES = values(PhotoRoute)

PHOTOS = TableSpec(
    name="photos",
    version=1,
    blob_columns=("aligned",),
    schema=pa.schema(
        [
            pa.field("photo_id", pa.string(), nullable=False),  # "<user>/<file>", unique in a tree
            pa.field("user", pa.string(), nullable=False),
            pa.field("source_root", pa.string()),
            pa.field("path", pa.string()),  # relative to source_root
            pa.field("size_bytes", pa.int64()),
            pa.field("fingerprint", pa.string()),
            pa.field("width", pa.int32()),
            pa.field("height", pa.int32()),
            pa.field("status", pa.string(), nullable=False),
            pa.field("status_reason", pa.string()),
            pa.field("route", pa.string()),
            pa.field("route_reason", pa.string()),
            pa.field("n_faces", pa.int32()),
            pa.field("detect_pass", pa.string()),
            pa.field("face_boxes", pa.list_(pa.list_(pa.float32()))),  # every accepted face, x1 y1 x2 y2
            pa.field("face_scores", pa.list_(pa.float32())),
            pa.field("det_score", pa.float32()),  # single route: the face's score
            pa.field("landmarks", pa.list_(pa.list_(pa.float32()))),  # single route: 5 x [x, y]
            pa.field("aligned", pa.binary()),  # single route: 112x112 PNG
            pa.field("detector", pa.string()),
            pa.field("detector_version", pa.string()),
            pa.field("source_present", pa.bool_(), nullable=False),
            pa.field("config_hash", pa.string()),
            pa.field("run_id", pa.string()),
            pa.field("processed_at", pa.timestamp("us", tz="UTC")),
            pa.field("processed_on", PROCESSED_ON),  # the Ray node / host / GPUs that processed it
        ]
    ),
)
