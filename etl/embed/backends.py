"""Face embedding backends: aligned 112x112 RGB faces in, unit-length vectors out.

Every backend takes a list of faces as `etl.faces.align.align_face` returns them (RGB uint8,
112x112x3, aligned to the ArcFace 5-point template; the lake stores them as PNG, read
back with `etl.faces.encode.decode_image`) and returns a float32 array (n, dim) whose rows
are L2-normalised, so the cosine similarity of two faces is their dot product.

Backends (`EmbedderConfig.backend`):

- `dlib` (default): dlib's ResNet face descriptor from `face_recognition_models`
  (weights ship inside that package), 128-d. dlib's raw descriptors have a norm of
  about 1.45, so its documented same-person threshold, Euclidean distance 0.6 on raw
  descriptors, is about cosine 0.914 on ours (1 - 0.6**2 / (2 * 1.45**2)).
- `insightface:PATH`: an ArcFace recognition ONNX file, or a folder holding one (e.g.
  insightface's `buffalo_l` pack with `w600k_r50.onnx`), run with onnxruntime.
- `keras:FILE`: a Keras face-recognition model (`.keras`, or legacy `.h5`) whose input
  is RGB scaled to [-1, 1] as (x - 127.5) / 127.5.

Nothing is ever downloaded: a missing model file is a FileNotFoundError that says what
to put where.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from etl.errors import require
from etl.faces.tensorflow_threads import limit_tensorflow_threads

log = logging.getLogger(f"facelake.{__name__}")

FACE_SIZE = 112  # side of an aligned face (etl.faces.align.ALIGNED_SIZE)
BACKENDS = ("dlib", "insightface:PATH", "keras:FILE")
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
# insightface model packs (buffalo_l, antelopev2, ...) hold a detector and attribute models
# next to the recognition model; these name prefixes are the non-recognition ones.
_NOT_RECOGNITION_PREFIXES = ("det_", "2d106", "1k3d68", "genderage")

DLIB_MODEL_ID = "dlib_resnet_v1"
DLIB_DIM = 128
# dlib's descriptor wants its own 150x150 chip, built from ITS 5-point shape predictor
# run inside a face rectangle like the one its HOG frontal detector returns. For a face
# aligned to the ArcFace template that rectangle is nearly fixed: dlib's HOG detector,
# run on the 8 photos of etl.synthetic.face_photos and mapped into template coordinates, puts its
# box centre at (56.95, 72.60) with side 87.6 px (mean over the 8 photos; the side
# varies by about +-5 px). Descriptors from this path are within 0.11-0.19 Euclidean
# distance of dlib's native full-photo pipeline on those photos (same person: < 0.6).
_DLIB_BOX_CENTRE = (56.95, 72.60)
_DLIB_BOX_SIDE = 87.6
# The box (and dlib's chip with its 0.25 padding) reaches outside the 112x112 face, so
# the face gets a black border; x2 upscaling gives dlib's 150x150 chip more source pixels
# than the ~90 px the face spans in the aligned image.
_DLIB_PAD = 48
_DLIB_SCALE = 2


@dataclass(frozen=True)
class EmbedderConfig:
    """Face embedder settings.

    backend: `dlib` (weights inside `face_recognition_models`), `insightface:PATH` (an
    ArcFace ONNX file or a folder holding one) or `keras:FILE` (a `.keras`/`.h5` model).
    Validation here only checks the values' form; model files are looked for when the
    embedder is built.
    """

    backend: str = "dlib"
    batch_size: int = 64  # faces per model call
    threads: int = 1  # TensorFlow/ONNX threads per worker (one Ray CPU each)

    def __post_init__(self) -> None:
        require(isinstance(self.backend, str), f"embedder backend must be a string, got {self.backend!r}")
        kind, _, path = self.backend.partition(":")
        require(
            self.backend == "dlib" or (kind in ("insightface", "keras") and path != ""),
            f"embedder backend {self.backend!r} is not one of: {', '.join(repr(b) for b in BACKENDS)}",
        )
        if kind == "keras":
            require(
                path.lower().endswith(KERAS_SUFFIXES),
                f"keras embedder model {path!r} must be a file ending in {', '.join(KERAS_SUFFIXES)}",
            )
        require(
            isinstance(self.batch_size, int) and self.batch_size >= 1,
            f"batch_size must be an integer >= 1, got {self.batch_size!r}",
        )
        require(
            isinstance(self.threads, int) and self.threads >= 1,
            f"threads must be an integer >= 1, got {self.threads!r}",
        )


class FaceEmbedder(Protocol):
    model: str  # stable model id (a table key): changes whenever the weights change
    version: str  # package versions that produced the vectors
    dim: int

    def __call__(self, faces: list[np.ndarray]) -> np.ndarray:
        """(len(faces), dim) float32, rows L2-normalised."""


def _missing(package: str, what: str) -> ImportError:
    return ImportError(f"the {what} needs the '{package}' package: pip install {package}")


def _check_faces(faces: list[np.ndarray]) -> None:
    for i, face in enumerate(faces):
        if not isinstance(face, np.ndarray) or face.shape != (FACE_SIZE, FACE_SIZE, 3) or face.dtype != np.uint8:
            shape = getattr(face, "shape", None)
            dtype = getattr(face, "dtype", type(face).__name__)
            raise ValueError(
                f"face {i} is {shape} {dtype}; embedders take aligned RGB uint8 faces of shape "
                f"({FACE_SIZE}, {FACE_SIZE}, 3), as etl.faces.align.align_face returns them"
            )


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    # a zero vector stays zero rather than becoming NaN
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class _BatchedEmbedder(ABC):
    """The loop every backend shares: check the faces, run the model batch by batch, normalise the rows.

    A backend sets `dim` and `_batch_size` and implements `_embed_batch` (faces -> (n, dim) raw vectors).
    """

    dim: int
    _batch_size: int

    @abstractmethod
    def _embed_batch(self, batch: list[np.ndarray]) -> np.ndarray:
        """One batch of checked faces -> (len(batch), dim) raw vectors."""

    def __call__(self, faces: list[np.ndarray]) -> np.ndarray:
        """(len(faces), dim) float32, rows L2-normalised.

        Raises:
            ValueError: a face is not an aligned RGB uint8 (112, 112, 3) array.
        """
        _check_faces(faces)
        if not faces:
            return np.zeros((0, self.dim), dtype=np.float32)
        faces = list(faces)
        size = self._batch_size
        return _normalise(np.concatenate([self._embed_batch(faces[i : i + size]) for i in range(0, len(faces), size)]))


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _resized(face: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`face` at (width, height) `size`; unchanged when it already is."""
    if (face.shape[1], face.shape[0]) == size:
        return face
    shrink = size[0] < face.shape[1]
    return cv2.resize(face, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


class DlibEmbedder(_BatchedEmbedder):
    """dlib's ResNet face descriptor (`dlib_face_recognition_resnet_model_v1.dat`).

    dlib-bin is built without BLAS and exposes no thread setting, so `threads` has no
    effect here: the network runs on the calling thread.
    """

    model = DLIB_MODEL_ID
    dim = DLIB_DIM

    def __init__(self, config: EmbedderConfig) -> None:
        try:
            import dlib
        except ImportError as error:  # pragma: no cover - install problem
            raise _missing("dlib-bin", "dlib embedder") from error
        try:
            import face_recognition_models
        except ImportError as error:  # pragma: no cover - install problem
            raise _missing("face_recognition_models", "dlib embedder") from error
        shape_file = Path(face_recognition_models.pose_predictor_five_point_model_location())
        net_file = Path(face_recognition_models.face_recognition_model_location())
        for path in (shape_file, net_file):
            if not path.is_file():
                raise FileNotFoundError(
                    f"dlib embedder: model file {path} is missing; reinstall face_recognition_models "
                    "(pip install --force-reinstall face_recognition_models), which ships it"
                )
        self._dlib = dlib
        self._batch_size = config.batch_size
        self._shape_predictor = dlib.shape_predictor(str(shape_file))
        self._net = dlib.face_recognition_model_v1(str(net_file))
        self.version = (
            f"dlib-{dlib.__version__};face_recognition_models-{importlib.metadata.version('face_recognition_models')}"
        )
        self._rect = dlib.rectangle(*dlib_face_box())
        log.info("dlib embedder %s (%s)", self.model, self.version)

    def _big(self, face: np.ndarray) -> np.ndarray:
        padded = cv2.copyMakeBorder(face, _DLIB_PAD, _DLIB_PAD, _DLIB_PAD, _DLIB_PAD, cv2.BORDER_CONSTANT, value=0)
        big = cv2.resize(padded, None, fx=_DLIB_SCALE, fy=_DLIB_SCALE, interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(big)

    def _embed_batch(self, batch: list[np.ndarray]) -> np.ndarray:
        bigs = [self._big(face) for face in batch]
        shapes = [self._dlib.full_object_detections([self._shape_predictor(big, self._rect)]) for big in bigs]
        # batched overload: images + one full_object_detections per image -> per image a
        # list of descriptors (one here); num_jitters 0 keeps it deterministic
        descriptors = self._net.compute_face_descriptor(bigs, shapes, 0)
        return np.stack([np.asarray(per_image[0], dtype=np.float32) for per_image in descriptors])


def dlib_face_box() -> tuple[int, int, int, int]:
    """dlib's face rectangle (left, top, right, bottom) in the padded, upscaled face."""
    cx, cy = _DLIB_BOX_CENTRE
    half = _DLIB_BOX_SIDE / 2.0
    corners = [cx - half, cy - half, cx + half, cy + half]
    left, top, right, bottom = (round((c + _DLIB_PAD) * _DLIB_SCALE) for c in corners)
    return left, top, right, bottom


def find_recognition_onnx(path: Path) -> Path:
    """The ArcFace recognition model at `path`: the file itself, or the one in a folder.

    In a folder (an insightface model pack) detector and attribute models are skipped;
    a `w600k*` file is preferred, then the first by name.
    """
    hint = "put an ArcFace recognition ONNX such as buffalo_l/w600k_r50.onnx there"
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"insightface embedder: {path} does not exist; {hint}")
    candidates = sorted(
        p for p in path.glob("*.onnx") if p.is_file() and not p.name.lower().startswith(_NOT_RECOGNITION_PREFIXES)
    )
    if not candidates:
        raise FileNotFoundError(f"insightface embedder: no recognition .onnx model in folder {path}; {hint}")
    preferred = [p for p in candidates if p.name.lower().startswith("w600k")]
    return (preferred or candidates)[0]


class InsightfaceEmbedder(_BatchedEmbedder):
    """An ArcFace ONNX recognition model run by insightface's `ArcFaceONNX` on onnxruntime."""

    def __init__(self, config: EmbedderConfig) -> None:
        model_file = find_recognition_onnx(Path(config.backend.split(":", 1)[1]).expanduser())
        try:
            import onnxruntime
            from insightface.model_zoo.arcface_onnx import ArcFaceONNX
        except ImportError as error:  # pragma: no cover - install problem
            raise _missing("insightface", "insightface embedder") from error
        available = onnxruntime.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = config.threads
        options.inter_op_num_threads = config.threads
        session = onnxruntime.InferenceSession(str(model_file), sess_options=options, providers=providers)
        self._model = ArcFaceONNX(str(model_file), session=session)
        # input_size is (width, height) from the model's NCHW input; a dynamic side
        # (a name, not a number) means the model takes the template's 112
        size = self._model.input_size
        self._input_size = tuple(s if isinstance(s, int) and s > 0 else FACE_SIZE for s in size)
        self._model.input_size = self._input_size
        self._batch_size = config.batch_size
        self.model = f"insightface:{model_file.stem}@{_file_sha256(model_file)[:12]}"
        self.version = f"insightface-{importlib.metadata.version('insightface')};onnxruntime-{onnxruntime.__version__}"
        out_shape = self._model.output_shape
        if len(out_shape) == 2 and isinstance(out_shape[1], int):
            self.dim = int(out_shape[1])
        else:  # output width not declared: measure it on one blank face
            self.dim = int(
                self._model.get_feat([np.zeros((*self._input_size[::-1], 3), np.uint8)]).reshape(1, -1).shape[1]
            )
        log.info(
            "insightface embedder %s from %s on %s, input %s, dim %d",
            self.model,
            model_file,
            session.get_providers()[0],
            self._input_size,
            self.dim,
        )

    def _embed_batch(self, batch: list[np.ndarray]) -> np.ndarray:
        # get_feat takes BGR (OpenCV order): it swaps to RGB and scales to [-1, 1] itself
        bgr = [np.ascontiguousarray(_resized(face, self._input_size)[..., ::-1]) for face in batch]
        return np.asarray(self._model.get_feat(bgr), dtype=np.float32).reshape(len(batch), -1)


class KerasEmbedder(_BatchedEmbedder):
    """A Keras face-recognition model; input RGB (x - 127.5) / 127.5 at its input size."""

    def __init__(self, config: EmbedderConfig) -> None:
        model_file = Path(config.backend.split(":", 1)[1]).expanduser()
        if not model_file.is_file():
            raise FileNotFoundError(
                f"keras embedder: model file {model_file} does not exist; put a Keras face-recognition "
                f"model there ({', '.join(KERAS_SUFFIXES)}) that takes RGB faces scaled to [-1, 1]"
            )
        try:
            import keras
            import tensorflow as tf
        except ImportError as error:  # pragma: no cover - install problem
            raise _missing("tensorflow", "keras embedder") from error
        limit_tensorflow_threads(tf, config.threads)
        self._keras_model = keras.models.load_model(str(model_file), compile=False)
        input_shape = self._keras_model.input_shape  # (None, H, W, 3)
        height = input_shape[1] if input_shape[1] else FACE_SIZE
        width = input_shape[2] if input_shape[2] else FACE_SIZE
        self._input_size = (int(width), int(height))
        output_shape = self._keras_model.output_shape
        if len(output_shape) != 2 or not output_shape[1]:
            raise ValueError(
                f"keras embedder: model {model_file} outputs {output_shape}; expected (batch, dim) vectors"
            )
        self.dim = int(output_shape[1])
        self._batch_size = config.batch_size
        self.model = f"keras:{model_file.stem}@{_file_sha256(model_file)[:12]}"
        self.version = f"keras-{keras.__version__};tensorflow-{tf.__version__}"
        log.info("keras embedder %s from %s, input %s, dim %d", self.model, model_file, self._input_size, self.dim)

    def _embed_batch(self, batch: list[np.ndarray]) -> np.ndarray:
        x = np.stack([_resized(face, self._input_size) for face in batch]).astype(np.float32)
        x = (x - 127.5) / 127.5
        # a direct call, not predict(): no progress bar, no per-call dataset set-up
        return np.asarray(self._keras_model(x, training=False), dtype=np.float32)


def build_embedder(config: EmbedderConfig) -> FaceEmbedder:
    if config.backend == "dlib":
        return DlibEmbedder(config)
    if config.backend.startswith("insightface:"):
        return InsightfaceEmbedder(config)
    return KerasEmbedder(config)


@lru_cache(maxsize=2)
def cached_embedder(config: EmbedderConfig) -> FaceEmbedder:
    """One embedder per process and config: worker processes are reused across tasks,
    so the model is loaded once per worker."""
    return build_embedder(config)
