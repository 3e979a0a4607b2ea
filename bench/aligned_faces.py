"""Realistic aligned-face PNGs for the audit benchmark: real faces, encoded as ingest encodes them.

The 8 real face photos that ship in installed packages (etl.synthetic.face_photos) are aligned to
the 112x112 ArcFace template (etl.faces.align) and varied the way consecutive video frames
vary (a pixel or two of shift, a degree or two of rotation, a little scale, brightness
and sensor noise, mirrored half the time), then PNG-encoded with facelake's own encoder
(etl.faces.encode, zlib level 1). That gives ~20 KB per face, the size real aligned faces have.

Every face in the pool is a distinct image, so no compressor can fold one into another;
the pool is laid out person by person (entry k shows person k % 8). Imported by the
benchmarks, which put the repository on sys.path first.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import cv2
import numpy as np

from etl.faces.align import ALIGNED_SIZE, align_face
from etl.faces.encode import encode_image
from etl.synthetic.face_photos import load_face_photos

log = logging.getLogger("bench.aligned_faces")

MAX_SHIFT_PX = 1.5
MAX_ROTATION_DEG = 2.0
MAX_SCALE_CHANGE = 0.02
MAX_GAIN_CHANGE = 0.10
MAX_NOISE_SIGMA = 1.0  # grey levels; real frames carry sensor noise


def base_faces() -> list[np.ndarray]:
    """The shipped real faces, aligned to 112x112 RGB."""
    return [align_face(photo.image, photo.landmarks) for photo in load_face_photos()]


def frame_variant(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`face` as another frame of the same video would show it."""
    centre = (ALIGNED_SIZE / 2.0, ALIGNED_SIZE / 2.0)
    matrix = cv2.getRotationMatrix2D(
        centre,
        float(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG)),
        float(1.0 + rng.uniform(-MAX_SCALE_CHANGE, MAX_SCALE_CHANGE)),
    )
    matrix[:, 2] += rng.uniform(-MAX_SHIFT_PX, MAX_SHIFT_PX, 2)
    source = face[:, ::-1] if rng.random() < 0.5 else face
    moved = cv2.warpAffine(
        np.ascontiguousarray(source),
        matrix,
        (ALIGNED_SIZE, ALIGNED_SIZE),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    ).astype(np.float32)
    gain = float(1.0 + rng.uniform(-MAX_GAIN_CHANGE, MAX_GAIN_CHANGE))
    noise = rng.standard_normal(moved.shape, dtype=np.float32) * np.float32(rng.uniform(0.0, MAX_NOISE_SIGMA))
    return np.clip(moved * gain + noise + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class FacePool:
    """Distinct aligned-face PNGs; entry k shows person k % people."""

    pngs: list[bytes]
    people: int

    def index(self, person: np.ndarray, occurrence: np.ndarray) -> np.ndarray:
        """Pool entry for the occurrence-th frame (0, 1, ...) showing `person`: a person's frames
        cycle through that person's entries, so one entry recurs only every len(pngs) / people frames
        of that person."""
        per_person = len(self.pngs) // self.people
        return person % self.people + self.people * (occurrence % per_person)


def aligned_png_pool(size: int, seed: int) -> FacePool:
    """`size` distinct aligned-face PNGs of the shipped real faces (a multiple of their number)."""
    faces = base_faces()
    if size < len(faces) or size % len(faces):
        raise ValueError(
            f"the face pool size must be a positive multiple of {len(faces)} (the shipped faces), got {size}"
        )
    rng = np.random.default_rng([seed, 4])
    started = time.perf_counter()
    pngs = [encode_image(frame_variant(faces[k % len(faces)], rng), "png") for k in range(size)]
    sizes = np.array([len(png) for png in pngs])
    log.info(
        "aligned PNG pool: %d distinct faces of %d people, %.1f KB mean (%.1f-%.1f KB, 5-95 %%), made in %.1f s",
        size,
        len(faces),
        sizes.mean() / 1e3,
        np.percentile(sizes, 5) / 1e3,
        np.percentile(sizes, 95) / 1e3,
        time.perf_counter() - started,
    )
    return FacePool(pngs=pngs, people=len(faces))
