"""Alignment of real faces: detected landmarks -> ArcFace 112x112 template."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from etl.config import DetectorConfig
from etl.faces.align import ALIGNED_SIZE, align_face
from etl.faces.detect import MtcnnDetector

ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


@pytest.fixture(scope="module")
def detector():
    return MtcnnDetector(DetectorConfig())


@pytest.fixture(scope="module")
def group_photo():
    import insightface

    path = os.path.join(os.path.dirname(insightface.__file__), "data", "images", "t1.jpg")
    return cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)


def test_aligned_faces_put_landmarks_on_the_template(detector, group_photo):
    faces = [f for f in detector([group_photo], min_face_size=40)[0] if f.score >= 0.95]
    assert len(faces) >= 6
    for face in faces:
        aligned = align_face(group_photo, face.landmarks)
        assert aligned.shape == (ALIGNED_SIZE, ALIGNED_SIZE, 3) and aligned.dtype == np.uint8
        # detect again inside the aligned face (padded, so MTCNN sees some context)
        pad = 40
        padded = cv2.copyMakeBorder(aligned, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        again = detector([padded], min_face_size=40)[0]
        assert again, "no face found in an aligned face"
        best = max(again, key=lambda f: f.score)
        distance = np.linalg.norm(best.landmarks - pad - ARCFACE_TEMPLATE, axis=1)
        # MTCNN's own landmark noise on turned faces is a few pixels (most on the nose);
        # misplaced landmarks would put the points tens of pixels away
        assert distance.mean() < 7.0, f"aligned landmarks are {distance.mean():.1f} px off the template on average"
        assert distance[:2].max() < 8.0, f"aligned eyes are {distance[:2].max():.1f} px off the template"


def test_alignment_rejects_wrong_landmark_count(group_photo):
    with pytest.raises(ValueError):
        align_face(group_photo, np.zeros((4, 2), np.float32))
