"""`videos`: one row per source video (and per unusable file found where videos live).

status vocabulary:
  ok               decoded and processed
  no_face_file     processed, but there was no `.face` beside it (detection on full frames)
  bad_name         the name does not follow SSS-sensor-type-medium-session.mov, or is not
                   valid UTF-8 (shown with \\xNN escapes); not processed
  duplicate_name   `X.m.mov` or `X.mp4` beside `X.mov` (same SiW video id twice); keyed by
                   its path, not processed (the first by name form is)
  duplicate_content the same bytes as an earlier video under another name; keyed by its
                   path, not processed (the first copy is)
  empty_file       zero bytes; not processed
  unreadable       the file could not be read (permissions, I/O error, a symlink loop) or is
                   not a regular file (a named pipe is never opened); not processed
  corrupt          the container or stream cannot be decoded (truncated, not a video)
  error            processing raised an unexpected error (the reason holds it)
`source_present` turns false when a later scan of the same source root no longer finds
the file; its rows are kept, never silently deleted.
"""

import pyarrow as pa

from schemas.provenance import PROCESSED_ON
from schemas.spec import TableSpec
from schemas.vocabulary import VideoStatus, values

FACE_REPAIR = pa.struct(
    [
        pa.field("line", pa.int32()),  # 1-based line number in the .face file
        pa.field("kind", pa.string()),  # missing_number | unparseable | bom | crlf ...
        pa.field("original", pa.string()),  # the line as read
        pa.field("position", pa.int32()),  # 0-based coordinate index that was filled (null if n/a)
        pa.field("value", pa.int32()),  # the value used (null if the box was dropped)
        pa.field("method", pa.string()),  # interpolated | notes_48 | dropped
    ]
)

VIDEO_STATUSES = values(VideoStatus)

VIDEOS = TableSpec(
    name="videos",
    version=1,
    schema=pa.schema(
        [
            pa.field("video_id", pa.string(), nullable=False),
            pa.field("source_root", pa.string()),
            pa.field("path", pa.string()),  # path relative to source_root
            pa.field("name_form", pa.string()),  # plain | m_mov | mp4 | m_mp4 | unknown
            pa.field("split", pa.string()),
            pa.field("label", pa.string()),  # live | spoof
            pa.field("attack_type", pa.string()),  # live | print | replay
            pa.field("subject", pa.int32()),
            pa.field("sensor", pa.int32()),
            pa.field("type_id", pa.int32()),
            pa.field("medium", pa.int32()),
            pa.field("session", pa.int32()),
            pa.field("size_bytes", pa.int64()),
            pa.field("fingerprint", pa.string()),
            pa.field("face_path", pa.string()),
            pa.field("face_lines", pa.int32()),
            pa.field("face_zero_lines", pa.int32()),
            pa.field("face_repairs", pa.list_(FACE_REPAIR)),
            pa.field("n_face_repairs", pa.int32()),
            pa.field("stream_frames", pa.int32()),  # frame count the container claims
            pa.field("source_frames", pa.int32()),  # frames that decoded, before --frame-stride
            pa.field("fps", pa.float32()),
            pa.field("width", pa.int32()),
            pa.field("height", pa.int32()),
            pa.field("n_frames", pa.int32()),  # frames actually decoded (after stride)
            pa.field("n_ok", pa.int32()),  # frames with an aligned face
            pa.field("status", pa.string(), nullable=False),
            pa.field("status_reason", pa.string()),
            pa.field("source_present", pa.bool_(), nullable=False),
            pa.field("config_hash", pa.string()),
            pa.field("run_id", pa.string()),
            pa.field("processed_at", pa.timestamp("us", tz="UTC")),
            pa.field("processed_on", PROCESSED_ON),  # the Ray node / host / GPUs that processed it
        ]
    ),
)
