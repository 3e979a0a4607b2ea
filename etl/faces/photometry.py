"""Brightness and contrast of the face and of the background of a frame (no model, no Ray).

Luma is BT.601 (0.299 R + 0.587 G + 0.114 B, grey levels 0..255); brightness is its mean and
contrast its standard deviation (population, ddof 0).

- `face_photometry`: over the face box of the full-resolution frame.
- `background_photometry`: over everything outside the face box, on a grey copy of the frame
  shrunk (area averaging) so that its longer side is `BACKGROUND_SIDE` pixels: cheap, and
  sensor noise and fine texture average out, so it measures the scene's light, not the grain.
  Without a face box the whole frame is the background.

Ingest stores both for every decoded frame (`frames.face_brightness` ... `background_contrast`);
the shortcut audit (`queries/shortcuts.sql`) asks whether they alone tell attacks from live faces.
"""

from __future__ import annotations

import cv2
import numpy as np

BACKGROUND_SIDE = 160  # the longer side of the shrunk frame the background is measured on
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luma(rgb: np.ndarray) -> np.ndarray:
    """The BT.601 luma of an RGB image (H x W x 3, any numeric dtype) as float32 H x W."""
    return rgb[..., :3].astype(np.float32) @ _LUMA


def _box(box, width: int, height: int) -> tuple[int, int, int, int] | None:
    """A face box (x1, y1, x2, y2, any numbers) clipped to the frame, rounded; None when empty."""
    if box is None:
        return None
    x1, y1 = max(0, int(round(float(box[0])))), max(0, int(round(float(box[1]))))
    x2, y2 = min(width, int(round(float(box[2])))), min(height, int(round(float(box[3]))))
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def face_photometry(rgb: np.ndarray, box) -> tuple[float, float] | None:
    """(brightness, contrast) of the face box of an RGB frame; None when the box is missing or empty."""
    height, width = rgb.shape[:2]
    clipped = _box(box, width, height)
    if clipped is None:
        return None
    x1, y1, x2, y2 = clipped
    face = luma(rgb[y1:y2, x1:x2])
    return float(face.mean()), float(face.std())


def background_photometry(rgb: np.ndarray, box=None, *, side: int = BACKGROUND_SIDE) -> tuple[float, float] | None:
    """(brightness, contrast) of the frame outside the face box, on a grey copy shrunk to `side` px
    (its longer side; a smaller frame is not enlarged). No box: the whole frame. None when the box
    covers the whole frame."""
    height, width = rgb.shape[:2]
    scale = min(1.0, side / max(height, width))
    small_w, small_h = max(1, int(round(width * scale))), max(1, int(round(height * scale)))
    small = rgb
    if (small_w, small_h) != (width, height):
        # shrink the frame as it is (uint8), then take luma: luma of a 1080p frame in float32 first
        # cost ingest 4 ms a frame (bench/profile_ingest.py), the shrunk one almost nothing
        small = cv2.resize(rgb, (small_w, small_h), interpolation=cv2.INTER_AREA)
    grey = luma(small)
    keep = np.ones((small_h, small_w), dtype=bool)
    clipped = _box(box, width, height)
    if clipped is not None:
        x1, y1, x2, y2 = clipped
        # the box in shrunk pixels, grown to whole pixels: a pixel touching the face is not background
        sx1, sy1 = int(np.floor(x1 * small_w / width)), int(np.floor(y1 * small_h / height))
        sx2, sy2 = int(np.ceil(x2 * small_w / width)), int(np.ceil(y2 * small_h / height))
        keep[sy1:sy2, sx1:sx2] = False
    values = grey[keep]
    if values.size == 0:
        return None
    return float(values.mean()), float(values.std())
