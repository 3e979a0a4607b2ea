"""Face embedders: dlib on real faces; insightface and keras backends on fake models with
numpy reference forwards (tests/fake_face_models.py); config and input errors."""

from __future__ import annotations

import hashlib
import itertools
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from etl.embed.backends import EmbedderConfig, build_embedder, cached_embedder, dlib_face_box
from etl.faces.align import align_face
from etl.synthetic.face_photos import FacePhoto, load_face_photos, photo_variant
from tests.fake_face_models import (
    fake_arcface_reference,
    fake_keras_reference,
    write_fake_arcface_onnx,
    write_fake_keras_model,
)

NAMES = ["t1_face1", "t1_face2", "t1_face3", "t1_face4", "t1_face5", "t1_face6", "astronaut", "tom_hanks"]


def unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def sha12(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@pytest.fixture(scope="module")
def photos() -> list[FacePhoto]:
    return load_face_photos()


@pytest.fixture(scope="module")
def aligned(photos) -> list[np.ndarray]:
    return [align_face(p.image, p.landmarks) for p in photos]


@pytest.fixture(scope="module")
def dlib_embedder():
    return cached_embedder(EmbedderConfig())


@pytest.fixture(scope="module")
def dlib_vectors(dlib_embedder, aligned) -> np.ndarray:
    return dlib_embedder(aligned)


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory) -> Path:
    """fake_arcface_r0.onnx (dim 512), fake_arcface_r1.onnx (dim 256), fake_arcface96_r0.onnx (96 px input)."""
    folder = tmp_path_factory.mktemp("fake_onnx")
    write_fake_arcface_onnx(folder, dim=512, seed=0)
    write_fake_arcface_onnx(folder, dim=256, seed=1)
    write_fake_arcface_onnx(folder / "fake_arcface96_r0.onnx", dim=512, seed=0, size=96)
    return folder


@pytest.fixture(scope="module")
def arcface_r0(onnx_dir):
    return build_embedder(EmbedderConfig(backend=f"insightface:{onnx_dir / 'fake_arcface_r0.onnx'}"))


# --- config -------------------------------------------------------------------------


def test_config_defaults():
    config = EmbedderConfig()
    assert (config.backend, config.batch_size, config.threads) == ("dlib", 64, 1)
    # the config never looks at the filesystem: a missing model is the builder's error
    assert EmbedderConfig(backend="insightface:/no/such/folder").backend == "insightface:/no/such/folder"
    assert EmbedderConfig(backend="keras:/no/such/model.h5").backend == "keras:/no/such/model.h5"
    assert hash(EmbedderConfig()) == hash(EmbedderConfig(backend="dlib", batch_size=64, threads=1))


@pytest.mark.parametrize("backend", ["facenet", "insightface:", "keras:", "insightface", "DLIB", ""])
def test_config_rejects_unknown_backend(backend):
    with pytest.raises(ValueError) as error:
        EmbedderConfig(backend=backend)
    assert "'dlib', 'insightface:PATH', 'keras:FILE'" in str(error.value)
    assert repr(backend) in str(error.value)


def test_config_rejects_bad_numbers_and_keras_suffix():
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1, got 0"):
        EmbedderConfig(batch_size=0)
    with pytest.raises(ValueError, match=r"threads must be an integer >= 1, got 0"):
        EmbedderConfig(threads=0)
    with pytest.raises(ValueError, match=r"must be a file ending in \.keras, \.h5, \.hdf5"):
        EmbedderConfig(backend="keras:/models/facenet_savedmodel")


# --- dlib on real faces ----------------------------------------------------------------


def test_dlib_identity(dlib_embedder):
    assert dlib_embedder.model == "dlib_resnet_v1"
    assert dlib_embedder.dim == 128
    assert dlib_embedder.version.startswith("dlib-20.") and ";face_recognition_models-" in dlib_embedder.version
    assert cached_embedder(EmbedderConfig(backend="dlib", batch_size=64, threads=1)) is dlib_embedder


def test_dlib_face_box():
    # template box centre (56.95, 72.60), side 87.6, through the 48 px pad and x2 scale;
    # pinned here because the descriptors barely depend on it (dlib's shape predictor
    # converges to the same landmarks from boxes 10 px off: cosine > 0.998 to these)
    assert dlib_face_box() == (122, 154, 298, 329)


def test_dlib_real_faces_shape_and_norm(photos, dlib_vectors):
    assert [p.name for p in photos] == NAMES
    assert dlib_vectors.shape == (8, 128)
    assert dlib_vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(dlib_vectors, axis=1), 1.0, atol=1e-5)


def test_dlib_different_persons_are_apart(dlib_vectors):
    sims = dlib_vectors @ dlib_vectors.T
    pairs = {(NAMES[i], NAMES[j]): float(sims[i, j]) for i, j in itertools.combinations(range(8), 2)}
    assert max(pairs.values()) <= 0.93, sorted(pairs.items(), key=lambda kv: -kv[1])[:3]
    # the closest different pair is measured, not guessed: t1_face4 vs t1_face5, cosine 0.912
    assert max(pairs, key=pairs.get) == ("t1_face4", "t1_face5")
    assert pairs[("t1_face4", "t1_face5")] == pytest.approx(0.912, abs=0.005)


def test_dlib_same_person_variants(photos, dlib_embedder, dlib_vectors):
    faces, owners = [], []
    for index, photo in enumerate(photos):
        for variant in (1, 2, 3):  # 1, 3: mirrored; all: colour-shifted
            shifted = photo_variant(photo, variant=variant)
            faces.append(align_face(shifted.image, shifted.landmarks))
            owners.append(index)
    vectors = dlib_embedder(faces)
    sims = np.sum(vectors * dlib_vectors[owners], axis=1)
    assert sims.min() >= 0.97, dict(zip([NAMES[o] for o in owners], np.round(sims, 3)))


def test_dlib_rotated_and_jpeg_variants(photos, dlib_embedder, dlib_vectors):
    faces, owners = [], []
    for index, photo in enumerate(photos):
        centre = tuple(float(c) for c in photo.landmarks.mean(axis=0))
        h, w = photo.image.shape[:2]
        for angle in (-5.0, 5.0):
            matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
            rotated = cv2.warpAffine(
                photo.image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
            )
            landmarks = np.hstack([photo.landmarks, np.ones((5, 1))]) @ matrix.T
            faces.append(align_face(rotated, landmarks))
            owners.append(index)
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(photo.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 60])
        assert ok
        recoded = cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        faces.append(align_face(recoded, photo.landmarks))
        owners.append(index)
    vectors = dlib_embedder(faces)
    sims = np.sum(vectors * dlib_vectors[owners], axis=1)
    assert sims.min() >= 0.95, dict(zip([NAMES[o] for o in owners], np.round(sims, 3)))
    # rotating before alignment is not a no-op: the faces did change
    assert sims.max() < 0.9999


def test_dlib_matches_native_pipeline(photos, dlib_vectors):
    """dlib's own path (HOG detector on the photo, its 5-point shapes, its chip) gives
    nearly the same descriptor as ours from the ArcFace-aligned face."""
    import dlib
    import face_recognition_models as models

    detector = dlib.get_frontal_face_detector()
    shapes = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
    net = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    native = []
    for photo in photos:
        boxes = detector(photo.image, 1)
        assert len(boxes) == 1, photo.name
        native.append(np.asarray(net.compute_face_descriptor(photo.image, shapes(photo.image, boxes[0]))))
    raw_norms = np.linalg.norm(native, axis=1)
    assert np.all((raw_norms > 1.3) & (raw_norms < 1.6))  # the module doc's "norm about 1.45"
    sims = np.sum(unit(np.asarray(native)) * dlib_vectors, axis=1)
    assert sims.min() >= 0.98, dict(zip(NAMES, np.round(sims, 4)))


def test_dlib_batches_and_single_faces_agree(aligned, dlib_vectors):
    small_batches = build_embedder(EmbedderConfig(batch_size=3))(aligned)
    np.testing.assert_array_equal(small_batches, dlib_vectors)
    single = cached_embedder(EmbedderConfig())([aligned[4]])
    np.testing.assert_array_equal(single[0], dlib_vectors[4])


# --- insightface backend on fake ONNX models ----------------------------------------------


def test_insightface_file_equals_reference(arcface_r0, onnx_dir, aligned):
    model_file = onnx_dir / "fake_arcface_r0.onnx"
    assert arcface_r0.model == f"insightface:fake_arcface_r0@{sha12(model_file)}"
    assert arcface_r0.dim == 512
    assert arcface_r0.version.startswith("insightface-") and ";onnxruntime-" in arcface_r0.version
    vectors = arcface_r0(aligned)
    assert vectors.shape == (8, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, unit(fake_arcface_reference(np.stack(aligned))), atol=1e-4)
    # the reference is sensitive to colour order: BGR input would not match it
    assert np.abs(unit(fake_arcface_reference(np.stack(aligned)[..., ::-1])) - vectors).max() > 1e-2


def test_insightface_batches_agree(arcface_r0, onnx_dir, aligned):
    small = build_embedder(EmbedderConfig(backend=f"insightface:{onnx_dir / 'fake_arcface_r0.onnx'}", batch_size=3))
    np.testing.assert_allclose(small(aligned), arcface_r0(aligned), atol=1e-6)


def test_insightface_dim_from_output_and_weights_change_model_id(onnx_dir, arcface_r0, aligned):
    other = build_embedder(EmbedderConfig(backend=f"insightface:{onnx_dir / 'fake_arcface_r1.onnx'}"))
    assert other.dim == 256
    assert other.model == f"insightface:fake_arcface_r1@{sha12(onnx_dir / 'fake_arcface_r1.onnx')}"
    np.testing.assert_allclose(
        other(aligned), unit(fake_arcface_reference(np.stack(aligned), dim=256, seed=1)), atol=1e-4
    )
    # same file name, other weights -> other model id
    renamed = onnx_dir / "swap" / "fake_arcface_r0.onnx"
    write_fake_arcface_onnx(renamed, dim=512, seed=5)
    swapped = build_embedder(EmbedderConfig(backend=f"insightface:{renamed}"))
    assert swapped.model.startswith("insightface:fake_arcface_r0@")
    assert swapped.model != arcface_r0.model


def test_insightface_resizes_to_model_input(onnx_dir, aligned):
    embedder = build_embedder(EmbedderConfig(backend=f"insightface:{onnx_dir / 'fake_arcface96_r0.onnx'}"))
    small = np.stack([cv2.resize(face, (96, 96), interpolation=cv2.INTER_AREA) for face in aligned])
    np.testing.assert_allclose(embedder(aligned), unit(fake_arcface_reference(small)), atol=1e-4)


def test_insightface_folder_picks_recognition_model(onnx_dir, tmp_path, aligned):
    pack = tmp_path / "buffalo_fake"
    pack.mkdir()
    # detector / attribute models of a pack: junk bytes, loading any of them would fail
    for junk in ("det_10g.onnx", "2d106det.onnx", "1k3d68.onnx", "genderage.onnx"):
        (pack / junk).write_bytes(b"not an onnx model")
    shutil.copy(onnx_dir / "fake_arcface_r0.onnx", pack / "fake_arcface_r0.onnx")
    embedder = build_embedder(EmbedderConfig(backend=f"insightface:{pack}"))
    assert embedder.model == f"insightface:fake_arcface_r0@{sha12(onnx_dir / 'fake_arcface_r0.onnx')}"
    np.testing.assert_allclose(embedder(aligned[:2]), unit(fake_arcface_reference(np.stack(aligned[:2]))), atol=1e-4)
    # a w600k* model is preferred over one that sorts first
    shutil.copy(onnx_dir / "fake_arcface_r1.onnx", pack / "w600k_fake_r1.onnx")
    preferred = build_embedder(EmbedderConfig(backend=f"insightface:{pack}"))
    assert preferred.model.startswith("insightface:w600k_fake_r1@") and preferred.dim == 256


# --- keras backend on fake models --------------------------------------------------------


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_equals_reference(tmp_path_factory, aligned, suffix):
    model_file = write_fake_keras_model(
        tmp_path_factory.mktemp("keras") / f"fake_keras_face_r0{suffix}", dim=512, seed=0
    )
    embedder = cached_embedder(EmbedderConfig(backend=f"keras:{model_file}", batch_size=5))
    assert embedder.model == f"keras:fake_keras_face_r0@{sha12(model_file)}"
    assert embedder.dim == 512
    assert embedder.version.startswith("keras-3.") and ";tensorflow-" in embedder.version
    vectors = embedder(aligned)
    assert vectors.shape == (8, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, unit(fake_keras_reference(np.stack(aligned))), atol=1e-4)
    assert embedder([]).shape == (0, 512)


# --- errors and edge cases -----------------------------------------------------------------


def test_missing_insightface_path(tmp_path):
    missing = tmp_path / "no_pack"
    with pytest.raises(FileNotFoundError) as error:
        build_embedder(EmbedderConfig(backend=f"insightface:{missing}"))
    assert str(missing) in str(error.value) and "w600k_r50.onnx" in str(error.value)
    only_detector = tmp_path / "detector_only"
    only_detector.mkdir()
    (only_detector / "det_10g.onnx").write_bytes(b"junk")
    with pytest.raises(FileNotFoundError) as error:
        build_embedder(EmbedderConfig(backend=f"insightface:{only_detector}"))
    assert f"no recognition .onnx model in folder {only_detector}" in str(error.value)


def test_missing_keras_file(tmp_path):
    missing = tmp_path / "facenet.keras"
    with pytest.raises(FileNotFoundError) as error:
        build_embedder(EmbedderConfig(backend=f"keras:{missing}"))
    assert str(missing) in str(error.value) and "put a Keras face-recognition model there" in str(error.value)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((112, 112), np.uint8),
        np.zeros((100, 100, 3), np.uint8),
        np.zeros((112, 112, 4), np.uint8),
        np.zeros((112, 112, 3), np.float32),
        [[0] * 3] * 112,
    ],
    ids=["gray", "100px", "rgba", "float32", "list"],
)
def test_wrong_faces_are_rejected(dlib_embedder, arcface_r0, aligned, bad):
    for embedder in (dlib_embedder, arcface_r0):
        with pytest.raises(ValueError, match=r"face 1 is .*aligned RGB uint8 faces of shape \(112, 112, 3\)"):
            embedder([aligned[0], bad])


def test_empty_input(dlib_embedder, arcface_r0):
    for embedder, dim in ((dlib_embedder, 128), (arcface_r0, 512)):
        out = embedder([])
        assert out.shape == (0, dim) and out.dtype == np.float32
