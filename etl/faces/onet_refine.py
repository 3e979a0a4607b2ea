"""ONet alone on a known face box: MTCNN's last stage gives the refined box, score and 5 landmarks.

Inside the cascade (etl/faces/detect.py), ONet sees a square box (RNet's, made square) cut from
the `.face` region resampled to `roi_size` pixels (etl/faces/locate.py) and bilinearly resized
to 48x48 by TensorFlow's `crop_and_resize`. Here ONet gets the same kind of input from a box we
already trust (the previous frame's face, or the `.face` box mapped onto the detector's box):
the same region, the same cut, the same box arithmetic as the package's StageONet
(`adjust_bboxes`, `adjust_landmarks`, the box clipped to the region), through onnxruntime
(etl/faces/mtcnn_onnx.py) instead of the cascade's three TensorFlow calls.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from etl.faces.detect import Face
from etl.faces.locate import region_transform, resample_region
from etl.faces.mtcnn_cascade import squared
from etl.faces.mtcnn_onnx import OnnxONet

ONET_INPUT = 48


def square_box(box) -> np.ndarray:
    """The box made square around its centre on its longer side (the cascade's `squared`, for one box)."""
    row = np.concatenate([[0.0], np.asarray(box, dtype=np.float64).reshape(4)])[None]
    return squared(row)[0, 1:5]


def onet_patch(region: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The 48x48 ONet input of `box` (region pixels), normalised as mtcnn does.

    TensorFlow's crop_and_resize, as mtcnn calls it (box / image size, not / (size - 1)), samples
    output pixel j at x1 * (W - 1) / W + j * (x2 - x1) * (W - 1) / W / 47, bilinearly; outside
    the image it gives 0 after normalisation, i.e. grey 127.5 before it.
    """
    height, width = region.shape[:2]
    fx, fy = (width - 1) / width, (height - 1) / height
    x1, y1, x2, y2 = box
    matrix = np.array(
        [
            [(x2 - x1) * fx / (ONET_INPUT - 1), 0.0, x1 * fx],
            [0.0, (y2 - y1) * fy / (ONET_INPUT - 1), y1 * fy],
        ]
    )
    patch = cv2.warpAffine(
        region.astype(np.float32),
        matrix,
        (ONET_INPUT, ONET_INPUT),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(127.5, 127.5, 127.5),
    )
    return (patch - 127.5) / 128.0


class OnetRefiner:
    """ONet on one candidate box per frame (runs on onnxruntime; one session per process)."""

    name = "mtcnn-onet"

    def __init__(self, threads: int = 1) -> None:
        self._onet = OnnxONet(threads)

    @property
    def providers(self) -> list[str]:
        return self._onet.providers

    def refine(self, frame: np.ndarray, candidate, region_box, *, margin: float, size: int) -> Face:
        """ONet's face for `candidate` (x1 y1 x2 y2, frame pixels), cut from the region of
        `region_box` (the `.face` box, or the candidate itself) grown by `margin` and resampled to
        `size` pixels; returned in frame pixels."""
        scale, offset_x, offset_y = region_transform(region_box, margin, size)
        region = resample_region(frame, scale, offset_x, offset_y, size)
        box = np.asarray(candidate, dtype=np.float64).reshape(2, 2)
        box = square_box(((box - [offset_x, offset_y]) * scale).reshape(4))
        offsets, landmarks, probability = self._onet(onet_patch(region, box)[None])
        # StageONet's arithmetic: sizes counted inclusively, landmarks shifted by one pixel
        width, height = box[2] - box[0] + 1.0, box[3] - box[1] + 1.0
        points = np.stack([width * landmarks[0, :5] + box[0] - 1.0, height * landmarks[0, 5:] + box[1] - 1.0], axis=1)
        refined = box + offsets[0] * [width, height, width, height]
        refined = np.clip(refined, 0.0, [size - 1, size - 1, size - 1, size - 1])  # mtcnn's fit_to_image
        face = Face(box=refined.astype(np.float32), score=float(probability[0]), landmarks=points.astype(np.float32))
        return face.transformed(scale, offset_x, offset_y)


@lru_cache(maxsize=2)
def cached_refiner(threads: int) -> OnetRefiner:
    """One ONet session per worker process (workers are reused across videos)."""
    return OnetRefiner(threads)
