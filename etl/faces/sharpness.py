"""Sharpness scores of a face image.

- `laplacian_variance`: variance of the 3x3 Laplacian of the grey image (higher = sharper).
- `android_sharpness_count`: the blur gate of the original SiW Android app: resize to
  256x256, grey = 0.3R + 0.59G + 0.11B, Laplacian [[0,1,0],[1,-4,1],[0,1,0]], count the
  pixels whose response is > 50. In the app a count below `ANDROID_BLUR_GATE` means "too
  blurry, retake". Ingest stores the count of every detected face (`frames.sharpness_count`);
  faces from small or soft videos count far lower than the app's camera frames, so
  `facelake predict` gates by the model's training faces unless told `--min-sharpness android`.
"""

from __future__ import annotations

import cv2
import numpy as np

ANDROID_SIZE = 256
ANDROID_THRESHOLD = 50.0
ANDROID_BLUR_GATE = 1000
_LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float32)


def _grey(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float32)
    return 0.3 * rgb[..., 0] + 0.59 * rgb[..., 1] + 0.11 * rgb[..., 2]


def laplacian_variance(rgb: np.ndarray) -> float:
    return float(cv2.filter2D(_grey(rgb), cv2.CV_32F, _LAPLACIAN, borderType=cv2.BORDER_REPLICATE).var())


def android_sharpness_count(rgb: np.ndarray) -> int:
    resized = cv2.resize(rgb, (ANDROID_SIZE, ANDROID_SIZE), interpolation=cv2.INTER_LINEAR)
    response = cv2.filter2D(_grey(resized), cv2.CV_32F, _LAPLACIAN, borderType=cv2.BORDER_REPLICATE)
    return int(np.count_nonzero(response > ANDROID_THRESHOLD))
