"""Find the face of each frame: search the `.face` box first, the whole frame second.

The `.face` box grown by a margin is resampled to a fixed square (`roi_size`), so all
regions of a batch share one shape and go through the detector in one call; a frame
whose region yields no face, or that has no box, is searched whole (downsampled to
`full_frame_max_side`). Per-call overhead dominates MTCNN on small inputs, so batching
small regions is what makes ingest fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from etl.config import DetectorConfig
from etl.faces.detect import Face, FaceDetector
from schemas.vocabulary import DetSource


@dataclass(frozen=True)
class Located:
    face: Face | None  # best face in frame pixels, None when nothing was found
    source: str | None  # roi | full_frame


def region_transform(box, margin: float, size: int) -> tuple[float, float, float]:
    """(scale, offset_x, offset_y) so that frame = region / scale + offset."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * (1.0 + 2.0 * margin)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    return size / side, cx - side / 2.0, cy - side / 2.0


def resample_region(frame: np.ndarray, scale: float, offset_x: float, offset_y: float, size: int) -> np.ndarray:
    matrix = np.array([[scale, 0.0, -offset_x * scale], [0.0, scale, -offset_y * scale]], dtype=np.float64)
    return cv2.warpAffine(
        frame, matrix, (size, size), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR, borderValue=0
    )


def _best(faces: list[Face], min_face_size: float) -> Face | None:
    faces = [f for f in faces if f.size >= min_face_size]
    return max(faces, key=lambda f: f.score) if faces else None


def _batched(detector: FaceDetector, images: list[np.ndarray], batch_size: int, min_face_size: int) -> list[list[Face]]:
    out: list[list[Face]] = []
    for start in range(0, len(images), batch_size):
        out.extend(detector(images[start : start + batch_size], min_face_size=min_face_size))
    return out


def locate_faces(
    frames: list[np.ndarray], boxes: list, detector: FaceDetector, config: DetectorConfig
) -> list[Located]:
    """The best face per frame; `boxes[i]` is frame i's `.face` box or None."""
    results: list[Located | None] = [None] * len(frames)

    roi_items = [
        (i, region_transform(b, config.roi_margin, config.roi_size)) for i, b in enumerate(boxes) if b is not None
    ]
    if roi_items:
        regions = [resample_region(frames[i], *t, config.roi_size) for i, t in roi_items]
        # a face must be at least min_face_size frame pixels; in the region, that many times the scale,
        # but the pyramid needs not look for faces below half the annotated box
        roi_min = int(config.roi_size / (1.0 + 2.0 * config.roi_margin) / 2.0)
        found = _batched(detector, regions, config.batch_size, roi_min)
        for (i, (scale, ox, oy)), faces in zip(roi_items, found):
            best = _best([f.transformed(scale, ox, oy) for f in faces], config.min_face_size)
            if best is not None:
                results[i] = Located(best, DetSource.ROI)

    pending = [i for i, r in enumerate(results) if r is None]
    if pending:
        height, width = frames[pending[0]].shape[:2]
        scale = min(1.0, config.full_frame_max_side / max(height, width))
        if scale == 1.0:
            images = [frames[i] for i in pending]
        else:
            size = (round(width * scale), round(height * scale))
            images = [cv2.resize(frames[i], size, interpolation=cv2.INTER_AREA) for i in pending]
        found = _batched(detector, images, config.batch_size, max(12, int(config.min_face_size * scale)))
        for i, faces in zip(pending, found):
            best = _best([f.transformed(scale, 0.0, 0.0) for f in faces], config.min_face_size)
            results[i] = Located(best, DetSource.FULL_FRAME if best is not None else None)
    return [r if r is not None else Located(None, None) for r in results]
