"""Real MTCNN on real faces (insightface's shipped t1.jpg, a group photo of 6-7 people)."""

import os

import cv2
import insightface
import numpy as np
import pytest

from etl.config import DetectorConfig
from etl.faces.detect import Face, MtcnnDetector
from etl.faces.locate import locate_faces
from etl.faces.mtcnn_cascade import bounded_scale_pyramid

# t1.jpg face boxes, x y w h
T1_FACES_XYWH = [(911, 62, 101, 136), (743, 343, 99, 132), (54, 266, 110, 129)]


def _xyxy(xywh):
    x, y, w, h = xywh
    return (x, y, x + w, y + h)


def iou(a, b) -> float:
    ax1, ay1, ax2, ay2 = (float(v) for v in a)
    bx1, by1, bx2, by2 = (float(v) for v in b)
    iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    ih = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union


@pytest.fixture(scope="module")
def t1() -> np.ndarray:
    path = os.path.join(os.path.dirname(insightface.__file__), "data", "images", "t1.jpg")
    bgr = cv2.imread(path)
    assert bgr is not None, path
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def detector() -> MtcnnDetector:
    return MtcnnDetector(DetectorConfig())


@pytest.fixture(scope="module")
def t1_faces(detector, t1) -> list[Face]:
    return detector([t1], min_face_size=40)[0]


@pytest.fixture(scope="module")
def confident(t1_faces) -> list[Face]:
    return [f for f in t1_faces if f.score >= 0.95]


# ---------------------------------------------------------------- scale pyramid


@pytest.mark.parametrize(
    ("width", "height", "min_face"),
    [
        (1280, 886, 40),
        (640, 480, 40),
        (160, 160, 38),
        (1920, 1080, 12),
        (480, 640, 100),
        (100, 60, 20),
        (1280, 886, 20),
    ],
)
def test_bounded_scale_pyramid_never_below_12(width, height, min_face):
    factor = 0.709
    scales = bounded_scale_pyramid(width, height, min_face, factor)
    assert len(scales) > 0
    assert scales[0] == pytest.approx(12 / min_face)
    assert np.allclose(scales[1:] / scales[:-1], factor)
    assert all(min(width, height) * s >= 12 for s in scales)
    # and it does not stop early: the next level would be below 12
    assert min(width, height) * scales[-1] * factor < 12


def test_bounded_scale_pyramid_values_for_t1_size():
    scales = bounded_scale_pyramid(1280, 886, 40, 0.709)
    expected = [0.3 * 0.709**k for k in range(10)]
    assert np.allclose(scales, expected)
    assert 886 * scales[-1] >= 12 > 886 * scales[-1] * 0.709


def test_bounded_scale_pyramid_empty_when_image_smaller_than_min_face():
    assert len(bounded_scale_pyramid(30, 30, 40, 0.709)) == 0
    assert len(bounded_scale_pyramid(40, 40, 40, 0.709)) == 1


def test_bounded_scale_pyramid_vs_upstream_levels():
    # what DOMAIN.md measured: upstream's pyramid for a 480 px frame and min face 40 reaches 9 and 6 px
    scales = bounded_scale_pyramid(640, 480, 40, 0.709)
    sides = 480 * scales
    assert sides.min() >= 12
    assert sides[0] == pytest.approx(144.0)


# ---------------------------------------------------------------- detector on t1.jpg


def test_stock_mtcnn_finds_nothing_with_min_face_40(t1):
    """Documents the upstream bug (DOMAIN.md): mtcnn 1.0 returns no face with min_face_size=40."""
    from mtcnn import MTCNN

    stock = MTCNN()
    assert stock.detect_faces(t1, min_face_size=40) == []


def test_our_mtcnn_finds_the_faces(t1_faces, confident):
    assert len(confident) >= 6
    for face in t1_faces:
        assert face.box.dtype == np.float32 and face.box.shape == (4,)
        assert face.landmarks.shape == (5, 2)
        assert 0.0 <= face.score <= 1.0
        assert face.box[2] > face.box[0] and face.box[3] > face.box[1]
        assert face.size >= 40
    for known in T1_FACES_XYWH:
        best = max(iou(_xyxy(known), f.box) for f in confident)
        assert best > 0.7, (known, best)


def test_our_mtcnn_batch_of_identical_images(detector, t1, t1_faces):
    both = detector([t1, t1], min_face_size=40)
    assert len(both) == 2
    assert len(both[0]) == len(both[1]) == len(t1_faces)
    assert detector([], min_face_size=40) == []


def test_our_mtcnn_on_image_smaller_than_min_face(detector):
    assert detector([np.full((20, 20, 3), 128, np.uint8)], min_face_size=40) == [[]]


def test_landmarks_in_template_order(confident):
    assert len(confident) >= 6
    for face in confident:
        left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
        x1, y1, x2, y2 = face.box
        for x, y in face.landmarks:
            assert x1 <= x <= x2 and y1 <= y <= y2
        assert left_eye[0] < right_eye[0]
        assert mouth_left[0] < mouth_right[0]
        assert max(left_eye[1], right_eye[1]) < min(mouth_left[1], mouth_right[1])
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_landmarks_match_mtcnn_own_keypoints(t1, confident):
    from mtcnn import MTCNN

    stock = MTCNN().detect_faces(t1)  # defaults: min_face_size 20, works upstream
    names = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
    matched = 0
    for face in confident:
        ref = max(stock, key=lambda r: iou(face.box, _xyxy(r["box"])))
        if iou(face.box, _xyxy(ref["box"])) < 0.8:
            continue
        matched += 1
        expected = np.array([ref["keypoints"][n] for n in names], dtype=np.float32)
        # the two runs differ in their pyramids, so allow a tenth of the face size
        assert np.abs(face.landmarks - expected).max() < 0.1 * face.size
    assert matched >= 4


# ---------------------------------------------------------------- locate_faces


@pytest.mark.parametrize("known", T1_FACES_XYWH)
def test_locate_with_face_box_uses_roi(detector, t1, known):
    config = DetectorConfig()
    [located] = locate_faces([t1], [_xyxy(known)], detector, config)
    assert located.source == "roi"
    assert located.face is not None
    assert iou(located.face.box, _xyxy(known)) > 0.7
    assert located.face.score >= 0.9
    assert located.face.size >= config.min_face_size


def test_locate_without_box_searches_full_frame(detector, t1, confident):
    config = DetectorConfig()
    [located] = locate_faces([t1], [None], detector, config)
    assert located.source == "full_frame"
    assert located.face is not None
    # the best face, in frame pixels (the frame is searched downsampled to 960 px)
    assert max(iou(located.face.box, f.box) for f in confident) > 0.7
    assert located.face.score >= 0.95


def test_locate_mixed_batch_keeps_frame_order(detector, t1):
    config = DetectorConfig()
    grey = np.full_like(t1, 128)
    located = locate_faces([t1, grey, t1], [_xyxy(T1_FACES_XYWH[1]), None, None], detector, config)
    assert [r.source for r in located] == ["roi", None, "full_frame"]
    assert iou(located[0].face.box, _xyxy(T1_FACES_XYWH[1])) > 0.7
    assert located[1].face is None


def test_locate_on_flat_grey_finds_nothing(detector):
    config = DetectorConfig()
    grey = np.full((480, 640, 3), 128, dtype=np.uint8)
    located = locate_faces([grey, grey], [(200, 100, 360, 300), None], detector, config)
    assert [(r.face, r.source) for r in located] == [(None, None), (None, None)]
