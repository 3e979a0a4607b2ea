"""Alignment: 5 landmarks -> the 112x112 ArcFace template, by insightface's `norm_crop`."""

from __future__ import annotations

import warnings

import numpy as np

ALIGNED_SIZE = 112


def align_face(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The aligned 112x112 face (same colour order as `frame`)."""
    from insightface.utils.face_align import norm_crop

    points = np.asarray(landmarks, dtype=np.float32).reshape(5, 2)
    with warnings.catch_warnings():
        # insightface 2.1 calls SimilarityTransform.estimate, deprecated in scikit-image 0.26
        warnings.simplefilter("ignore", FutureWarning)
        return norm_crop(frame, points, image_size=ALIGNED_SIZE)
