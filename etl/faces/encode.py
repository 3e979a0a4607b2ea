"""Image encoding for table cells (PNG for aligned faces, JPEG or PNG for crops)."""

from __future__ import annotations

import cv2
import numpy as np

from schemas.vocabulary import CropFormat

JPEG_QUALITY = 90
# zlib level 1 (OpenCV's default for cv2.imwrite; higher levels cost much more CPU for a few
# percent fewer bytes on photographic content), every row filtered by its difference from the row
# above ("up") and deflated as runs (RLE), instead of libpng's per-row choice among five filters:
# half the CPU per image (1080p .face crops ~11 -> ~5.5 ms, 112x112 faces ~0.9 -> ~0.5 ms) for
# -9..+7 % bytes (docs/ingest_profile.md). PNG is lossless: the pixels stored are the same.
PNG_PARAMS = [
    cv2.IMWRITE_PNG_COMPRESSION,
    1,
    cv2.IMWRITE_PNG_FILTER,
    cv2.IMWRITE_PNG_FILTER_UP,
    cv2.IMWRITE_PNG_STRATEGY,
    cv2.IMWRITE_PNG_STRATEGY_RLE,
]


def encode_image(rgb: np.ndarray, fmt: str) -> bytes:
    """Encode an RGB image as `png` or `jpeg` bytes."""
    if fmt not in (CropFormat.PNG, CropFormat.JPEG):
        raise ValueError(f"image format {fmt!r} is not one of png, jpeg")
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if fmt == CropFormat.JPEG else PNG_PARAMS
    ok, buffer = cv2.imencode(".png" if fmt == CropFormat.PNG else ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape} image as {fmt}")
    return buffer.tobytes()


def decode_image(data: bytes) -> np.ndarray:
    """Decode PNG/JPEG bytes to an RGB array."""
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("bytes are not a decodable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
