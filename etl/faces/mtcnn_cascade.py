"""MTCNN's three-stage cascade (PNet pyramid, RNet, ONet) without TensorFlow.

The `mtcnn` package runs its stages' image operations through TensorFlow: `tf.image.resize`
(AREA) for PNet's scale pyramid and `tf.image.crop_and_resize` for RNet's and ONet's patches.
Importing it costs a worker about 4 s and a few hundred MB before the first frame, although
the nets themselves already run on onnxruntime (etl/faces/mtcnn_onnx.py). Here the same
cascade runs on numpy and OpenCV:

- the pyramid levels are OpenCV's INTER_AREA resize of the normalised image, the level sizes
  truncated as TensorFlow truncates them (equal to TensorFlow's AREA resize to 4e-6);
- the patches are TensorFlow's `crop_and_resize` written out in float32 (bit-equal);
- the box arithmetic and NMS are the package's (mtcnn/utils/bboxes.py, landmarks.py), step by
  step, including its NMS rule (a box goes if any higher-scored box overlaps it too much, even
  one that itself went) and its sorts, so that ties break the same way;
- the pyramid stops at PNet's 12-pixel input (`bounded_scale_pyramid`, DOMAIN.md).

tests/test_mtcnn_cascade.py checks it against the package's own pipeline on real faces.
Rows out are the package's: image id, x1 y1 x2 y2, score, the 5 landmarks' x then their y.
"""

from __future__ import annotations

import cv2
import numpy as np

from etl.faces.mtcnn_onnx import OnnxNet

PNET_INPUT, PNET_STRIDE = 12, 2
SCALE_FACTOR = 0.709
NMS_PNET_PER_SCALE, NMS_PNET_ACROSS, NMS_RNET, NMS_ONET = 0.5, 0.7, 0.7, 0.7


def bounded_scale_pyramid(
    width: int, height: int, min_face_size: float, scale_factor: float, min_size: int = PNET_INPUT
) -> np.ndarray:
    """Scales m, m*f, m*f^2, ... with m = min_size / min_face_size, while the scaled image
    side stays >= min_size (the PNet input)."""
    first = min_size / float(min_face_size)
    smallest = min(width, height)
    scales = []
    scale = first
    while smallest * scale >= min_size:
        scales.append(scale)
        scale *= scale_factor
    return np.asarray(scales, dtype=np.float64)


def normalise(images: list[np.ndarray]) -> np.ndarray:
    """A batch of same-sized RGB images scaled to [-1, 1] as mtcnn does: (x - 127.5) / 128."""
    return (np.stack(images, axis=0) - 127.5) / 128


def area_resize(images: np.ndarray, scale: float) -> np.ndarray:
    """Every image shrunk by `scale` with area averaging; the size truncated, as TensorFlow's
    resize truncates mtcnn's float sizes."""
    height, width = (np.asarray(images.shape[1:3]) * scale).astype(int)
    return np.stack(
        [cv2.resize(image, (int(width), int(height)), interpolation=cv2.INTER_AREA) for image in images], axis=0
    ).astype(np.float32)


def crop_and_resize(images: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """TensorFlow's crop_and_resize as mtcnn calls it: each box (image id, x1 y1 x2 y2 in pixels,
    divided by the image's size, not size - 1) sampled bilinearly to size x size, in float32;
    a sample outside the image is 0 (grey, once normalised)."""
    _, height, width, _ = images.shape
    coords = (boxes[:, [2, 1, 4, 3]] / np.asarray([[height, width, height, width]])).astype(np.float32)
    y1, x1, y2, x2 = coords.T
    steps = np.arange(size, dtype=np.float32)

    def samples(start, end, extent):
        step = (end - start) * np.float32(extent - 1) / np.float32(size - 1)
        position = start[:, None] * np.float32(extent - 1) + steps[None, :] * step[:, None]
        low, high = np.floor(position), np.ceil(position)
        inside = (position >= 0) & (position <= extent - 1)
        clip = (0, extent - 1)
        return low.clip(*clip).astype(int), high.clip(*clip).astype(int), (position - low).astype(np.float32), inside

    top, bottom, y_weight, y_inside = samples(y1, y2, height)
    left, right, x_weight, x_inside = samples(x1, x2, width)
    pixels = images.astype(np.float32, copy=False)
    image = boxes[:, 0].astype(int)[:, None, None]
    x_weight = x_weight[:, None, :, None]
    upper = pixels[image, top[:, :, None], left[:, None, :]]
    upper = upper + (pixels[image, top[:, :, None], right[:, None, :]] - upper) * x_weight
    lower = pixels[image, bottom[:, :, None], left[:, None, :]]
    lower = lower + (pixels[image, bottom[:, :, None], right[:, None, :]] - lower) * x_weight
    patches = upper + (lower - upper) * y_weight[:, :, None, None]
    inside = (y_inside[:, :, None] & x_inside[:, None, :])[..., None]
    return np.where(inside, patches, np.float32(0.0))


# ---------------------------------------------------------------- mtcnn's box arithmetic


def _sorted_by_score(rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Highest score first, ties as mtcnn breaks them (numpy's default argsort, reversed)."""
    return rows[np.argsort(scores)[::-1]]


def pnet_proposals(offsets: np.ndarray, probability: np.ndarray, threshold: float) -> np.ndarray:
    """PNet's 12x12 windows (stride 2) scoring above `threshold`, moved by their offsets:
    rows of image id, x1 y1 x2 y2 in the level's pixels, score; best first."""
    score = probability[:, :, :, 1]
    image, row, column = np.where(score > threshold)
    reg_x1, reg_y1, reg_x2, reg_y2 = offsets[image, row, column].T
    x1, y1 = column * PNET_STRIDE + 1, row * PNET_STRIDE + 1
    x2, y2 = column * PNET_STRIDE + PNET_INPUT, row * PNET_STRIDE + PNET_INPUT
    width, height = x2 - x1, y2 - y1
    rows = np.stack(
        [
            image,
            x1 + reg_x1 * width,
            y1 + reg_y1 * height,
            x2 + reg_x2 * width,
            y2 + reg_y2 * height,
            score[image, row, column],
        ],
        axis=0,
    ).T
    return _sorted_by_score(rows, rows[:, -1])


def overlaps(boxes: np.ndarray, method: str) -> np.ndarray:
    """Pairwise overlap of boxes (x1 y1 x2 y2): intersection over union, or over the smaller area."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    a, b = boxes[None, :, :], boxes[:, None, :]
    height = np.maximum(0, np.minimum(a[:, :, 2], b[:, :, 2]) - np.maximum(a[:, :, 0], b[:, :, 0]))
    width = np.maximum(0, np.minimum(a[:, :, 3], b[:, :, 3]) - np.maximum(a[:, :, 1], b[:, :, 1]))
    inter = height * width
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero-area box overlaps nothing (nan > t is False)
        if method == "union":
            return inter / (area[:, None] + area[None, :] - inter)
        return inter / np.minimum(area[:, None], area[None, :])


def suppress(rows: np.ndarray, threshold: float, method: str = "union", sort: bool = True) -> np.ndarray:
    """mtcnn's NMS, image by image: a row goes when any row before it overlaps it by more than
    `threshold`, whether or not that row itself went."""
    if sort:
        rows = _sorted_by_score(rows, rows[:, 5])
    kept = []
    for image in np.unique(rows[:, 0]):
        group = rows[rows[:, 0] == image]
        earlier = np.triu(np.ones((len(group), len(group))), k=1)
        beaten = ((overlaps(group[:, 1:5], method) > threshold) * earlier).sum(axis=0)
        kept.append(group[beaten == 0])
    return np.concatenate(kept, axis=0) if kept else np.empty((0, rows.shape[1]))


def squared(rows: np.ndarray) -> np.ndarray:
    """Boxes made square on their longer side around their centre."""
    rows = rows.copy()
    height, width = rows[:, 4] - rows[:, 2], rows[:, 3] - rows[:, 1]
    side = np.maximum(width, height)
    rows[:, 1] = rows[:, 1] + width * 0.5 - side * 0.5
    rows[:, 2] = rows[:, 2] + height * 0.5 - side * 0.5
    rows[:, 3:5] = rows[:, 1:3] + np.tile(side, (2, 1)).T
    return rows


def refined(rows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Boxes moved by a net's offsets, in units of their inclusive width and height."""
    rows = rows.copy()
    width, height = rows[:, 3] - rows[:, 1] + 1, rows[:, 4] - rows[:, 2] + 1
    rows[:, 1:5] += offsets * np.stack([width, height, width, height], axis=-1)
    return rows


def placed_landmarks(landmarks: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """ONet's landmarks (fractions of the box: 5 x, then 5 y) in image pixels."""
    landmarks = np.array(landmarks, copy=True)
    width, height = rows[:, 3:4] - rows[:, 1:2] + 1, rows[:, 4:5] - rows[:, 2:3] + 1
    landmarks[:, 0:5] = width * landmarks[:, 0:5] + rows[:, 1:2] - 1
    landmarks[:, 5:10] = height * landmarks[:, 5:10] + rows[:, 2:3] - 1
    return landmarks


def clipped_to_images(rows: np.ndarray, height: int, width: int) -> np.ndarray:
    """Boxes kept inside the image (landmarks are left where ONet put them)."""
    rows = rows.copy()
    rows[:, [1, 3]] = np.clip(rows[:, [1, 3]], 0, width - 1)
    rows[:, [2, 4]] = np.clip(rows[:, [2, 4]], 0, height - 1)
    return rows


# ---------------------------------------------------------------- the cascade


class MtcnnCascade:
    """PNet, RNet and ONet on onnxruntime, with the package's weights and stage code, no TensorFlow."""

    def __init__(self, threads: int = 1) -> None:
        self.pnet, self.rnet, self.onet = (OnnxNet(name, threads) for name in ("pnet", "rnet", "onet"))
        self.providers = self.pnet.providers

    def __call__(
        self, images: list[np.ndarray], *, min_face_size: int, thresholds: tuple[float, float, float]
    ) -> np.ndarray:
        """Faces in a batch of same-sized RGB images, as (n, 16) rows (see the module docstring)."""
        height, width = images[0].shape[:2]
        scales = bounded_scale_pyramid(width, height, min_face_size, SCALE_FACTOR)
        if len(scales) == 0:
            return np.empty((0, 16))
        normalised = normalise(images)
        rows = self._pnet(normalised, scales, thresholds[0])
        if len(rows):
            rows = self._rnet(normalised, rows, thresholds[1])
        if len(rows):
            rows = self._onet(normalised, rows, thresholds[2])
        if not len(rows):
            return np.empty((0, 16))
        return clipped_to_images(rows, height, width)

    def _pnet(self, normalised: np.ndarray, scales: np.ndarray, threshold: float) -> np.ndarray:
        per_scale = []
        for scale in scales:
            offsets, probability = self.pnet(area_resize(normalised, scale))
            rows = pnet_proposals(np.asarray(offsets), np.asarray(probability), threshold)
            rows[:, 1:5] = rows[:, 1:5] / scale
            per_scale.append(suppress(rows, NMS_PNET_PER_SCALE, sort=False))
        return squared(suppress(np.concatenate(per_scale, axis=0), NMS_PNET_ACROSS))

    def _rnet(self, normalised: np.ndarray, rows: np.ndarray, threshold: float) -> np.ndarray:
        offsets, probability = (np.asarray(o) for o in self.rnet(crop_and_resize(normalised, rows, 24)))
        rows = rows.copy()
        rows[:, -1] = probability[:, -1]
        rows = refined(rows, offsets)
        rows = rows[rows[:, -1] > threshold]
        return squared(suppress(rows, NMS_RNET))

    def _onet(self, normalised: np.ndarray, rows: np.ndarray, threshold: float) -> np.ndarray:
        offsets, landmarks, probability = (np.asarray(o) for o in self.onet(crop_and_resize(normalised, rows, 48)))
        landmarks = placed_landmarks(landmarks, rows)
        rows = rows.copy()
        rows[:, -1] = probability[:, -1]
        rows = np.concatenate([refined(rows, offsets), landmarks], axis=-1)
        rows = rows[rows[:, 5] > threshold]
        return suppress(rows, NMS_ONET, method="min")
