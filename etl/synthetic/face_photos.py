"""Real face photos that ship inside installed packages, cropped with context.

The sample-data generator needs real faces (a face detector must find them in the
rendered frames), and nothing may be downloaded. Three sources are installed:
insightface's group photo `t1.jpg` (6 usable faces), scikit-image's `astronaut()`
and insightface's aligned 112x112 `Tom_Hanks_54745.png`.

Boxes and landmarks below are measurements of those shipped files made with
`mtcnn` 1.0 (`MTCNN().detect_faces` with its defaults); `tests/test_sample.py`
re-runs the detector on every crop to keep them honest.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(f"facelake.{__name__}")

# Crop side = CONTEXT x the longer side of the face box: hair and some background.
CONTEXT = 2.2

# t1.jpg (1280x886): MTCNN xywh box and 5 landmarks (left eye = image-left, right
# eye, nose, mouth left, mouth right), ordered left to right in the photo. A sixth
# detection (14x17 px at [1199, 535]) is too small to use.
_T1_FACES: tuple[tuple[str, tuple[int, int, int, int], tuple[tuple[float, float], ...]], ...] = (
    ("t1_face1", (54, 266, 110, 129), ((85, 330), (128, 309), (120, 338), (113, 371), (145, 353))),
    ("t1_face2", (269, 152, 96, 117), ((289, 211), (320, 192), (307, 224), (310, 248), (337, 232))),
    ("t1_face3", (466, 265, 103, 140), ((493, 319), (540, 332), (508, 364), (483, 366), (530, 378))),
    ("t1_face4", (743, 343, 99, 132), ((761, 397), (802, 401), (773, 432), (761, 438), (807, 441))),
    ("t1_face5", (911, 62, 101, 136), ((917, 120), (951, 112), (924, 151), (932, 175), (961, 168))),
    ("t1_face6", (1134, 272, 93, 125), ((1150, 324), (1193, 322), (1165, 348), (1154, 366), (1196, 365))),
)
# skimage.data.astronaut() (512x512).
_ASTRONAUT_BOX = (182, 64, 83, 107)
_ASTRONAUT_LANDMARKS = ((204, 100), (245, 102), (224, 126), (202, 139), (244, 140))

# Tom_Hanks_54745.png is aligned to the ArcFace 112x112 template, so its landmarks
# are the template points. It is upscaled by _TOM_SCALE and its border extended by
# _TOM_PAD px (in upscaled pixels) on every side to give it some context.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
_TOM_SCALE = 2
_TOM_PAD = 80
# MTCNN box (x1, y1, x2, y2) measured on the extended Tom Hanks crop (384x384).
_TOM_BOX = (81.0, 74.0, 241.0, 319.0)


@dataclass(frozen=True)
class FacePhoto:
    """One real face: an RGB crop with context, its face box and 5 landmarks.

    `face_box` is (x1, y1, x2, y2) and `landmarks` a (5, 2) float array (left eye
    (image-left), right eye, nose, mouth left, mouth right), both in crop pixels.
    """

    name: str
    image: np.ndarray
    face_box: tuple[float, ...]
    landmarks: np.ndarray


def insightface_images_dir() -> Path:
    """Folder of the sample images that ship with insightface.

    Found from the package's location without importing it (importing insightface
    loads onnxruntime, which is not needed to read two image files).
    """
    spec = importlib.util.find_spec("insightface")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("insightface is not installed: its t1.jpg and Tom_Hanks_54745.png are needed")
    return Path(os.path.dirname(spec.origin)) / "data" / "images"


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _crop_with_context(
    *, name: str, image: np.ndarray, box_xywh: tuple[int, int, int, int], landmarks: tuple[tuple[float, float], ...]
) -> FacePhoto:
    """Square crop of CONTEXT x the face box, centred on the face.

    Where the crop would leave the photo it is shifted back inside (no synthetic
    pixels); only a photo smaller than the crop is padded by reflection.
    """
    x, y, w, h = box_xywh
    side = int(round(CONTEXT * max(w, h)))
    img_h, img_w = image.shape[:2]
    if side > img_w or side > img_h:
        pad = side
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
        x, y = x + pad, y + pad
        lm_offset = np.array([pad, pad], dtype=np.float64)
        img_h, img_w = image.shape[:2]
    else:
        lm_offset = np.zeros(2)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0 = int(np.clip(round(cx - side / 2.0), 0, img_w - side))
    y0 = int(np.clip(round(cy - side / 2.0), 0, img_h - side))
    crop = np.ascontiguousarray(image[y0 : y0 + side, x0 : x0 + side])
    box = (float(x - x0), float(y - y0), float(x + w - x0), float(y + h - y0))
    lms = np.asarray(landmarks, dtype=np.float64) + lm_offset - np.array([x0, y0], dtype=np.float64)
    return FacePhoto(name=name, image=crop, face_box=box, landmarks=lms)


def extend_border(image: np.ndarray, *, pad: int) -> np.ndarray:
    """Extend an image by `pad` px per side: reflected, then strongly blurred.

    A plain reflection would mirror eyes and mouth into the border (a second face
    for a detector); a strong blur of it keeps the colours and lighting of the
    border but no facial features. A short blend ramp softens the seam.
    """
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT_101).astype(np.float32)
    # Blur at quarter resolution: same look, a fraction of the cost of a wide kernel.
    ph, pw = padded.shape[:2]
    small = cv2.resize(padded, (max(1, pw // 4), max(1, ph // 4)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=max(pad / 12.0, 0.5))
    blurred = cv2.resize(small, (pw, ph), interpolation=cv2.INTER_LINEAR)
    h, w = image.shape[:2]
    inside = np.zeros(padded.shape[:2], dtype=np.float32)
    inside[pad : pad + h, pad : pad + w] = 1.0
    # Distance outside the original area -> weight of the blurred copy (0 at the seam).
    dist = cv2.distanceTransform((1 - inside).astype(np.uint8), cv2.DIST_L2, 5)
    weight = np.clip(dist / 10.0, 0.0, 1.0)[..., None]
    out = padded * (1.0 - weight) + blurred * weight
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _tom_hanks() -> FacePhoto:
    small = _read_rgb(insightface_images_dir() / "Tom_Hanks_54745.png")
    big = cv2.resize(small, None, fx=_TOM_SCALE, fy=_TOM_SCALE, interpolation=cv2.INTER_CUBIC)
    image = extend_border(big, pad=_TOM_PAD)
    # Template points are in 112x112 pixel-centre coordinates; scale about the centres.
    lms = (ARCFACE_TEMPLATE + 0.5) * _TOM_SCALE - 0.5 + _TOM_PAD
    return FacePhoto(name="tom_hanks", image=image, face_box=_TOM_BOX, landmarks=lms)


def load_face_photos() -> list[FacePhoto]:
    """The 8 real face photos, in a fixed order: t1_face1..6, astronaut, tom_hanks."""
    from skimage import data as skdata  # local import: skimage is slow to import

    photos: list[FacePhoto] = []
    t1 = _read_rgb(insightface_images_dir() / "t1.jpg")
    for name, box, lms in _T1_FACES:
        photos.append(_crop_with_context(name=name, image=t1, box_xywh=box, landmarks=lms))
    astronaut = np.ascontiguousarray(skdata.astronaut()[..., :3])
    photos.append(
        _crop_with_context(name="astronaut", image=astronaut, box_xywh=_ASTRONAUT_BOX, landmarks=_ASTRONAUT_LANDMARKS)
    )
    photos.append(_tom_hanks())
    log.debug("loaded %d face photos: %s", len(photos), [p.name for p in photos])
    return photos


def photo_variant(photo: FacePhoto, *, variant: int) -> FacePhoto:
    """A deterministic variation of a photo, for reusing a real person.

    Odd variants are mirrored horizontally; every variant > 0 gets its own per-channel
    colour shift. Variant 0 is the photo itself.
    """
    if variant < 0:
        raise ValueError(f"variant must be >= 0, got {variant}")
    if variant == 0:
        return photo
    image = photo.image
    box = photo.face_box
    lms = photo.landmarks.copy()
    if variant % 2 == 1:
        w = image.shape[1]
        image = image[:, ::-1]
        box = (w - box[2], box[1], w - box[0], box[3])
        lms[:, 0] = w - lms[:, 0]
        # Mirroring swaps image-left and image-right: keep the documented order.
        lms = lms[[1, 0, 2, 4, 3]]
    # Gains in [0.88, 1.12] that differ per channel and per variant.
    phases = np.array([0.0, 2.1, 4.2]) + 1.3 * variant
    gains = (1.0 + 0.12 * np.sin(phases)).astype(np.float32)
    shifted = np.clip(image.astype(np.float32) * gains + 0.5, 0, 255).astype(np.uint8)
    return FacePhoto(name=f"{photo.name}~v{variant}", image=shifted, face_box=tuple(box), landmarks=lms)
