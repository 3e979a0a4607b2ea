"""MTCNN's ONet as an ONNX graph (etl/faces/mtcnn_onnx.py) and its input cut (etl/faces/onet_refine.py)
against the `mtcnn` package's own Keras net and TensorFlow patch extraction, on real faces."""

from __future__ import annotations

import numpy as np
import pytest

from etl.faces.mtcnn_onnx import OnnxNet, OnnxONet
from etl.faces.onet_refine import onet_patch, square_box
from etl.synthetic.face_photos import load_face_photos


@pytest.fixture(scope="module")
def keras_onet():
    from mtcnn.stages import StageONet

    return StageONet()._model


@pytest.fixture(scope="module")
def face_regions() -> list[tuple[np.ndarray, np.ndarray]]:
    """(the face photo's 160x160 region, its face box made square in region pixels) for every shipped photo."""
    import cv2

    regions = []
    for photo in load_face_photos():
        x1, y1, x2, y2 = photo.face_box[:4]
        side = max(x2 - x1, y2 - y1) * 1.7
        cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
        scale = 160.0 / side
        matrix = np.array([[scale, 0, -(cx - side / 2) * scale], [0, scale, -(cy - side / 2) * scale]])
        region = cv2.warpAffine(photo.image, matrix, (160, 160), flags=cv2.INTER_LINEAR)
        box = (np.array([x1, y1, x2, y2], dtype=np.float64) - [cx - side / 2, cy - side / 2] * 2) * scale
        regions.append((region, square_box(box)))
    return regions


@pytest.mark.parametrize(
    ("net", "shapes"),
    [("pnet", [(41, 41), (29, 30), (12, 12), (160, 160)]), ("rnet", [(24, 24)]), ("onet", [(48, 48)])],
)
def test_onnx_nets_equal_the_packages_keras_nets(net, shapes):
    """Every output of every net, on odd and even sizes (Keras' "same" pooling pads at the end when odd)."""
    from mtcnn.stages import StageONet, StagePNet, StageRNet

    keras = {"pnet": StagePNet, "rnet": StageRNet, "onet": StageONet}[net]()._model
    onnx = OnnxNet(net)
    rng = np.random.default_rng(1)
    for height, width in shapes:
        images = rng.uniform(-1, 1, (3, height, width, 3)).astype(np.float32)
        ours, theirs = onnx(images), [t.numpy() for t in keras(images)]
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert a.shape == b.shape
            np.testing.assert_allclose(a.numpy(), b, atol=2e-5)


def test_onnx_onet_equals_the_packages_keras_onet(keras_onet, face_regions):
    onet = OnnxONet(threads=1)
    faces = np.stack([onet_patch(region, box) for region, box in face_regions])
    noise = np.random.default_rng(0).uniform(-1, 1, (4, 48, 48, 3)).astype(np.float32)
    patches = np.concatenate([faces, noise]).astype(np.float32)

    offsets, landmarks, probability = onet(patches)
    keras_offsets, keras_landmarks, keras_classes = (t.numpy() for t in keras_onet(patches))

    np.testing.assert_allclose(offsets, keras_offsets, atol=1e-5)
    np.testing.assert_allclose(landmarks, keras_landmarks, atol=1e-5)
    np.testing.assert_allclose(probability, keras_classes[:, 1], atol=1e-5)
    # the real faces are faces to ONet, so the comparison covered the outputs that matter
    assert (probability[: len(faces)] > 0.9).all(), probability


def test_onet_patch_equals_mtcnns_crop_and_resize(face_regions):
    from mtcnn.utils.images import extract_patches

    regions = np.stack([region for region, _ in face_regions]).astype(np.float64)
    normalized = (regions - 127.5) / 128.0
    # boxes inside the region: the face box, and shifted and shrunk copies of it
    rows = []
    for index, (_, box) in enumerate(face_regions):
        for shift, shrink in ((0.0, 0.0), (5.5, 0.0), (-3.25, 4.0)):
            rows.append([index, box[0] + shift + shrink, box[1] - shift + shrink, box[2] + shift, box[3] - shift])
    rows = np.asarray(rows, dtype=np.float64)
    rows[:, 1:5] = np.clip(rows[:, 1:5], 0.0, 159.0)

    theirs = extract_patches(normalized, rows, expected_size=(48, 48)).numpy()
    ours = np.stack([onet_patch(face_regions[int(r[0])][0], r[1:5]) for r in rows])

    assert ours.shape == theirs.shape == (len(rows), 48, 48, 3)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_square_box_keeps_the_centre_and_the_longer_side():
    np.testing.assert_allclose(square_box([10, 20, 30, 60]), [0, 20, 40, 60])
    np.testing.assert_allclose(square_box([0, 0, 50, 10]), [0, -20, 50, 30])
