"""MTCNN's cascade without TensorFlow (etl/faces/mtcnn_cascade.py) against the `mtcnn` package's own
pipeline and TensorFlow's image ops, on real faces (the shipped photos, insightface's t1.jpg)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from etl.faces.mtcnn_cascade import (
    MtcnnCascade,
    area_resize,
    bounded_scale_pyramid,
    crop_and_resize,
    normalise,
    suppress,
)
from etl.faces.mtcnn_package import PackageMtcnn
from etl.synthetic.face_photos import insightface_images_dir, load_face_photos

THRESHOLDS = (0.6, 0.7, 0.8)


@pytest.fixture(scope="module")
def t1() -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(insightface_images_dir() / "t1.jpg")), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def cascade() -> MtcnnCascade:
    return MtcnnCascade(threads=1)


@pytest.fixture(scope="module")
def package() -> PackageMtcnn:
    """The package's pipeline (TensorFlow image ops) with the same onnxruntime nets: only the image ops differ."""
    return PackageMtcnn(threads=1, onnx_nets=True)


def _cases(t1):
    """(name, same-sized images, min face): whole photos, 160 px regions as ingest cuts them, batches of two."""
    cases = [("t1", [t1], 40), ("t1 and t1 upside down, min face 20", [t1, np.ascontiguousarray(t1[::-1])], 20)]
    for photo in load_face_photos():
        region = cv2.resize(photo.image, (160, 160), interpolation=cv2.INTER_AREA)
        cases += [
            (photo.name, [photo.image], 40),
            (f"{photo.name} 160", [region], 38),
            (f"{photo.name} 160 and mirrored", [region, np.ascontiguousarray(region[:, ::-1])], 20),
        ]
    return cases


def test_faces_equal_the_packages_pipeline_on_real_photos(cascade, package, t1):
    cases = _cases(t1)
    assert len(cases) == 2 + 3 * 8
    for name, images, min_face in cases:
        ours = cascade(images, min_face_size=min_face, thresholds=THRESHOLDS)
        theirs = package(images, min_face_size=min_face, thresholds=THRESHOLDS)
        assert ours.shape == theirs.shape, name
        assert ours.shape[0] >= len(images), name  # every image has a face
        assert np.array_equal(ours[:, 0], theirs[:, 0]), name  # same images, same order
        # boxes and landmarks to float noise (TensorFlow's and OpenCV's area averages differ by 4e-6)
        assert np.abs(ours[:, 1:5] - theirs[:, 1:5]).max() < 5e-3, name
        assert np.abs(ours[:, 6:] - theirs[:, 6:]).max() < 5e-3, name
        assert np.abs(ours[:, 5] - theirs[:, 5]).max() < 5e-4, name


def test_t1_faces_are_the_six_people(cascade, t1):
    rows = cascade([t1], min_face_size=40, thresholds=THRESHOLDS)
    assert rows.shape == (6, 16)
    assert (rows[:, 5] > 0.8).all()
    # every box inside the photo, landmarks inside their box
    assert (rows[:, [1, 3]] >= 0).all() and (rows[:, [1, 3]] <= t1.shape[1] - 1).all()
    assert (rows[:, [2, 4]] >= 0).all() and (rows[:, [2, 4]] <= t1.shape[0] - 1).all()
    for row in rows:
        xs, ys = row[6:11], row[11:16]
        assert (row[1] <= xs).all() and (xs <= row[3]).all() and (row[2] <= ys).all() and (ys <= row[4]).all()


def test_no_face_in_grey_or_in_an_image_smaller_than_the_face(cascade):
    grey = np.full((480, 640, 3), 128, np.uint8)
    assert cascade([grey, grey], min_face_size=40, thresholds=THRESHOLDS).shape == (0, 16)
    assert cascade([np.full((20, 20, 3), 128, np.uint8)], min_face_size=40, thresholds=THRESHOLDS).shape == (0, 16)


def test_crop_and_resize_is_tensorflows_bit_for_bit():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(7)
    images = normalise([rng.integers(0, 256, (160, 150, 3), dtype=np.uint8) for _ in range(2)])
    side = rng.uniform(5, 90, 300)
    x1, y1 = rng.uniform(-40, 140, 300), rng.uniform(-40, 150, 300)  # some reach outside the image
    boxes = np.stack([np.arange(300) % 2, x1, y1, x1 + side, y1 + side], axis=1)
    for size in (24, 48):
        ours = crop_and_resize(images, boxes, size)
        coords = boxes[:, [2, 1, 4, 3]] / np.asarray([[160, 150, 160, 150]])  # as mtcnn calls it
        theirs = tf.image.crop_and_resize(images, coords, boxes[:, 0].astype(int), (size, size)).numpy()
        assert ours.dtype == np.float32 and ours.shape == (300, size, size, 3)
        assert np.array_equal(ours, theirs)
    assert (crop_and_resize(images, np.array([[0, -100.0, -100.0, -60.0, -60.0]]), 24) == 0).all()


def test_pyramid_levels_equal_tensorflows_area_resize():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(3)
    images = normalise([rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)])
    scales = bounded_scale_pyramid(160, 160, 38, 0.709)
    assert len(scales) == 5  # 50.5, 35.8, 25.4, 18.0, 12.8 px
    for scale in scales:
        ours = area_resize(images, scale)
        theirs = tf.image.resize(images, np.asarray(images.shape[1:3]) * scale, method="area").numpy()
        assert ours.shape == theirs.shape  # sizes truncated alike
        assert np.abs(ours - theirs).max() < 1e-5


def test_nms_drops_a_box_overlapped_by_one_that_itself_went():
    """mtcnn's rule, not greedy NMS: C overlaps only B, B overlaps A; B goes for A, and C goes for B."""
    rows = np.array(
        [
            [0, 0.0, 0.0, 10.0, 10.0, 0.9],  # A
            [0, 2.0, 0.0, 12.0, 10.0, 0.8],  # B: IoU with A 0.67
            [0, 4.5, 0.0, 14.5, 10.0, 0.7],  # C: IoU with B 0.6, with A 0.38
            [1, 4.5, 0.0, 14.5, 10.0, 0.6],  # another image: never compared with image 0
        ]
    )
    kept = suppress(rows, 0.5)
    assert kept[:, 5].tolist() == [0.9, 0.6]


def test_detecting_does_not_import_tensorflow():
    """An ingest worker builds the detector and finds faces without TensorFlow in the process."""
    script = textwrap.dedent(
        """
        import sys
        from etl.config import DetectorConfig
        from etl.faces.detect import MtcnnDetector
        from etl.synthetic.face_photos import load_face_photos
        photo = load_face_photos()[0]
        faces = MtcnnDetector(DetectorConfig())([photo.image], min_face_size=40)
        print(len(faces[0]), "tensorflow" in sys.modules, "mtcnn" in sys.modules)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "False", "False"]
