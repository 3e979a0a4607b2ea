"""One video in, its `frames` rows and its `videos` row out (no Ray, no lake I/O).

decode sequentially (a chunk ahead, in a thread) -> .face box -> locate (ONet alone on a known
face, else the cascade on the region, then the full frame; etl/faces/track.py) -> align ->
sharpness, brightness and contrast -> encode. Frames are handled in chunks so memory stays bounded for long
1080p videos and the detector sees full batches.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from etl.config import IngestConfig
from etl.faces.align import align_face
from etl.faces.detect import FaceDetector
from etl.faces.encode import encode_image
from etl.faces.locate import Located
from etl.faces.onet_refine import cached_refiner
from etl.faces.photometry import background_photometry, face_photometry
from etl.faces.sharpness import android_sharpness_count, laplacian_variance
from etl.faces.track import VideoFaceLocator
from etl.ingest.memory_guard import MemoryGuard
from etl.ingest.provenance import processing_node
from etl.ingest.read_ahead import read_ahead
from etl.sources.decode import FrameReader, StreamInfo, VideoDecodeError, probe_video
from etl.sources.files import source_folder
from etl.sources.siw_tree import VideoSource
from schemas import FRAMES, VIDEOS
from schemas.vocabulary import CropFormat, DetStatus, FaceBoxSource, VideoStatus

log = logging.getLogger(f"facelake.{__name__}")


@dataclass
class VideoResult:
    video_id: str
    frames: pa.Table  # the rows to write; once `staged`, only their columns without image bytes
    video: pa.Table  # one row
    seconds: float
    staged: tuple | None = None  # etl.lake.files.StagedFile: where the worker wrote `frames` (None: not written)

    def written_to(self, lake) -> "VideoResult":
        """This result with its frames written into the lake's storage as staged files (by the worker that has
        them), carrying on only their columns without image bytes (for the summary). Unchanged for a lake workers
        cannot write."""
        from dataclasses import replace

        from etl.lake.files import write_rows

        if self.staged is not None:
            return self
        written = write_rows(lake, FRAMES, self.frames)
        return self if written.files is None else replace(self, frames=written.rows, staged=written.files)

    @property
    def n_frames(self) -> int:
        return self.frames.num_rows


def _clip_box(box, width: int, height: int):
    if box is None:
        return None
    x1, y1, x2, y2 = max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3])
    return (x1, y1, x2, y2) if x2 - x1 >= 2 and y2 - y1 >= 2 else None


def video_row(
    video: VideoSource,
    *,
    status: VideoStatus,
    reason: str | None,
    run_id: str,
    config_hash: str,
    stream: StreamInfo | None = None,
    n_frames: int | None = None,
    n_ok: int | None = None,
    source_frames: int | None = None,
    processed_on: dict | None = None,
) -> pa.Table:
    """The `videos` row of a video, processed or not (`processed_on`: where, when it was)."""
    name, ann = video.name, video.annotations
    row = {
        "video_id": video.video_id,
        "source_root": video.source_root,
        "path": video.rel_path,
        "name_form": name.name_form if name else "unknown",
        "split": name.split if name else None,
        "label": name.label if name else None,
        "attack_type": name.attack_type if name else None,
        "subject": name.subject if name else None,
        "sensor": name.sensor if name else None,
        "type_id": name.type_id if name else None,
        "medium": name.medium if name else None,
        "session": name.session if name else None,
        "size_bytes": video.size_bytes,
        "fingerprint": video.fingerprint,
        "face_path": video.face_rel_path,
        "face_lines": ann.n_lines if ann else None,
        "face_zero_lines": ann.n_zero if ann else None,
        "face_repairs": ann.repairs if ann else [],
        "n_face_repairs": len(ann.repairs) if ann else 0,
        "stream_frames": stream.frames if stream else None,
        "source_frames": source_frames,
        "fps": stream.fps if stream else None,
        "width": stream.width if stream else None,
        "height": stream.height if stream else None,
        "n_frames": n_frames,
        "n_ok": n_ok,
        "status": status,
        "status_reason": reason,
        "source_present": True,
        "config_hash": config_hash,
        "run_id": run_id,
        "processed_at": datetime.now(timezone.utc),
        "processed_on": processed_on,
    }
    return pa.Table.from_pylist([row], schema=VIDEOS.schema)


class _FrameRows:
    """Column buffers for the frames of one video."""

    def __init__(self, video: VideoSource, detector: FaceDetector, run_id: str) -> None:
        self.columns: dict[str, list] = {name: [] for name in FRAMES.schema.names}
        self.constant = {
            "video_id": video.video_id,
            "split": video.name.split,
            "label": video.name.label,
            "attack_type": video.name.attack_type,
            "subject": video.name.subject,
            "sensor": video.name.sensor,
            "medium": video.name.medium,
            "session": video.name.session,
            "detector": detector.name,
            "detector_version": detector.version,
            "run_id": run_id,
        }

    def add(self, **values) -> None:
        values.update(self.constant)
        for name, column in self.columns.items():
            column.append(values.get(name))

    def table(self) -> pa.Table:
        return pa.table(
            {name: pa.array(values, type=FRAMES.schema.field(name).type) for name, values in self.columns.items()},
            schema=FRAMES.schema,
        )


def process_video(video: VideoSource, config: IngestConfig, detector: FaceDetector, *, run_id: str) -> VideoResult:
    """Decode, detect, align and score every frame of a processable video.

    OpenCV reads a path: a video on object storage is first copied, a chunk at a time, to the
    temporary folder (`etl.sources.files`), and the copy removed however processing ends. A
    copy that fails (the object gone, the store down) raises OSError: the task's error row.
    """
    started = time.perf_counter()
    with source_folder(video.source_root).local_copy(video.rel_path) as path:
        return _process_file(video, path, config, detector, run_id=run_id, started=started)


def _process_file(
    video: VideoSource, path: Path, config: IngestConfig, detector: FaceDetector, *, run_id: str, started: float
) -> VideoResult:
    """`process_video` of the video's bytes at the local `path`."""
    config_hash = config.processing_hash()
    empty = FRAMES.schema.empty_table()
    here = processing_node()
    try:
        stream = probe_video(path)
    except VideoDecodeError as error:
        return VideoResult(
            video.video_id,
            empty,
            video_row(
                video,
                status=VideoStatus.CORRUPT,
                reason=str(error),
                run_id=run_id,
                config_hash=config_hash,
                processed_on=here,
            ),
            time.perf_counter() - started,
        )

    rows = _FrameRows(video, detector, run_id)
    tracking = config.detector.onet_tracking and detector.name == "mtcnn"
    locator = VideoFaceLocator(detector, config.detector, cached_refiner(config.detector.threads) if tracking else None)
    chunk: list[tuple[int, np.ndarray]] = []
    guard = MemoryGuard(config.task_memory_mb, what=f"video {video.rel_path}")
    reader = FrameReader(path, stride=config.frame_stride)
    # the next chunk decodes while this one is processed (a thread; etl/ingest/read_ahead.py)
    for index, frame in read_ahead(reader, config.detector.batch_size):
        chunk.append((index, frame))
        guard.check(f"decoding frame {index}")
        if len(chunk) >= config.detector.batch_size:
            _process_chunk(chunk, video, config, locator, rows)
            chunk = []
            guard.check(f"after frame {index}")
    if chunk:
        _process_chunk(chunk, video, config, locator, rows)
        guard.check("after the last frame")
    log.debug("video %s: memory grew by at most %.0f MB", video.video_id, guard.peak_mb)

    frames = rows.table()
    if frames.num_rows == 0:
        reason = f"{video.rel_path} opened but no frame could be decoded"
        row = video_row(
            video,
            status=VideoStatus.CORRUPT,
            reason=reason,
            run_id=run_id,
            config_hash=config_hash,
            stream=stream,
            n_frames=0,
            n_ok=0,
            source_frames=reader.frames_seen,
            processed_on=here,
        )
        return VideoResult(video.video_id, empty, row, time.perf_counter() - started)
    n_ok = int(np.count_nonzero(np.asarray(frames.column("det_status").to_pylist()) == DetStatus.OK))
    if video.annotations is None:
        missing = video.face_error or "no .face beside the video"
        status, reason = VideoStatus.NO_FACE_FILE, f"{missing}; faces searched on full frames"
    else:
        status, reason = VideoStatus.OK, None
    row = video_row(
        video,
        status=status,
        reason=reason,
        run_id=run_id,
        config_hash=config_hash,
        stream=stream,
        n_frames=frames.num_rows,
        n_ok=n_ok,
        source_frames=reader.frames_seen,
        processed_on=here,
    )
    return VideoResult(video.video_id, frames, row, time.perf_counter() - started)


def _process_chunk(
    chunk, video: VideoSource, config: IngestConfig, locator: VideoFaceLocator, rows: _FrameRows
) -> None:
    height, width = chunk[0][1].shape[:2]
    raw_boxes, box_sources, search_boxes = [], [], []
    for index, _ in chunk:
        if video.annotations is None:
            box, source = None, FaceBoxSource.NO_FACE_FILE
        else:
            box, source = video.annotations.box_for_frame(index)
        raw_boxes.append(box)
        box_sources.append(source)
        search_boxes.append(_clip_box(box, width, height))
    located = locator.locate([f for _, f in chunk], search_boxes)
    for (index, frame), box, source, search_box, found in zip(chunk, raw_boxes, box_sources, search_boxes, located):
        rows.add(
            frame_index=index,
            face_box=list(box) if box else None,
            face_box_source=source,
            **_frame_values(frame, search_box, found, config),
        )


def _frame_values(frame: np.ndarray, search_box, found: Located, config: IngestConfig) -> dict:
    crop = frame[search_box[1] : search_box[3], search_box[0] : search_box[2]] if search_box else None
    values: dict = {"det_source": found.source}
    face = found.face
    if face is None:
        values["det_status"] = DetStatus.NO_FACE
    else:
        values.update(det_score=face.score, det_box=face.box.tolist(), landmarks=face.landmarks.tolist())
        values["det_status"] = DetStatus.OK if face.score >= config.detector.accept_score else DetStatus.LOW_SCORE
    if values["det_status"] == DetStatus.OK:
        values["aligned"] = encode_image(align_face(frame, face.landmarks), CropFormat.PNG)
    # sharpness of the face as the camera saw it (the Android gate resizes the face crop to
    # 256x256): the detected box when there is one, else the .face box
    height, width = frame.shape[:2]
    face_box = _clip_box([int(round(v)) for v in face.box], width, height) if face is not None else None
    scored = frame[face_box[1] : face_box[3], face_box[0] : face_box[2]] if face_box else crop
    if scored is not None and scored.size:
        values["sharpness_lapvar"] = laplacian_variance(scored)
        values["sharpness_count"] = android_sharpness_count(scored)
    # brightness and contrast of the detected face (none found: null) and of the rest of the frame
    face_light = face_photometry(frame, face_box)
    if face_light is not None:
        values["face_brightness"], values["face_contrast"] = face_light
    background_light = background_photometry(frame, face_box)
    if background_light is not None:
        values["background_brightness"], values["background_contrast"] = background_light
    if config.crops != CropFormat.NONE and crop is not None and crop.size:
        values["crop"] = encode_image(crop, config.crops)
        values["crop_format"] = config.crops
    return values
