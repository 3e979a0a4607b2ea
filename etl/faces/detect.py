"""Face detector backends: images in, faces (box, score, 5 landmarks) out.

A backend is a class that loads its model once in `__init__` and detects a batch of
same-sized RGB images in `__call__`. Landmark order everywhere: left eye (image left),
right eye, nose, left mouth corner, right mouth corner; the order of the ArcFace template.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from etl.config import DetectorConfig
from etl.faces.mtcnn_cascade import MtcnnCascade

log = logging.getLogger(f"facelake.{__name__}")


@dataclass(frozen=True)
class Face:
    box: np.ndarray  # x1 y1 x2 y2, float32
    score: float
    landmarks: np.ndarray  # 5 x 2, float32

    def transformed(self, scale: float, offset_x: float, offset_y: float) -> "Face":
        """Map from a resampled region back to frame pixels: frame = region / scale + offset."""
        shift = np.array([offset_x, offset_y], dtype=np.float32)
        box = self.box.reshape(2, 2) / scale + shift
        return Face(
            box=box.reshape(4).astype(np.float32),
            score=self.score,
            landmarks=(self.landmarks / scale + shift).astype(np.float32),
        )

    @property
    def size(self) -> float:
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1]))


class FaceDetector(Protocol):
    name: str
    version: str

    def __call__(self, images: list[np.ndarray], *, min_face_size: int) -> list[list[Face]]:
        """Faces per image; `images` all have the same shape; min_face_size in their pixels."""


def _missing(package: str, extra: str) -> ImportError:
    return ImportError(f"the {extra} needs the '{package}' package: pip install {package}")


class MtcnnDetector:
    """MTCNN with the weights that ship inside the `mtcnn` package.

    By default its cascade runs without TensorFlow (etl/faces/mtcnn_cascade.py): the nets on
    onnxruntime, the pyramid and patches on OpenCV and numpy, the package's box arithmetic and
    NMS step by step. A worker then never imports TensorFlow (about 4 s and a few hundred MB
    each). `tensorflow_nets=True` runs the package's own pipeline with its Keras nets, as the
    original notes did (etl/faces/mtcnn_package.py; the benchmarks' baseline). Either way the
    scale pyramid stops at PNet's 12-pixel input: mtcnn 1.0's own pyramid returns no face at
    all with `min_face_size=40` (DOMAIN.md).
    """

    name = "mtcnn"

    def __init__(self, config: DetectorConfig, *, tensorflow_nets: bool = False) -> None:
        if importlib.util.find_spec("mtcnn") is None:  # pragma: no cover - install problem
            raise _missing("mtcnn", "MTCNN detector")
        self.version = importlib.metadata.version("mtcnn")
        self._thresholds = config.stage_thresholds
        if tensorflow_nets:
            from etl.faces.mtcnn_package import PackageMtcnn

            self._cascade = PackageMtcnn(config.threads)
            nets = self._cascade.nets
        else:
            self._cascade = MtcnnCascade(config.threads)
            nets = f"onnxruntime {self._cascade.providers}, no TensorFlow"
        log.info("MTCNN %s, nets on %s, stage thresholds %s", self.version, nets, self._thresholds)

    def __call__(self, images: list[np.ndarray], *, min_face_size: int) -> list[list[Face]]:
        if not images:
            return []
        rows = self._cascade(list(images), min_face_size=max(12, int(min_face_size)), thresholds=self._thresholds)
        faces: list[list[Face]] = [[] for _ in images]
        for row in np.asarray(rows, dtype=np.float64).reshape(-1, 16):
            # row: image id, x1 y1 x2 y2, confidence, then the 5 landmarks' x values followed by
            # their 5 y values (mtcnn/utils/landmarks.py), in template order
            landmarks = np.stack([row[6:11], row[11:16]], axis=1).astype(np.float32)
            faces[int(row[0])].append(Face(box=row[1:5].astype(np.float32), score=float(row[5]), landmarks=landmarks))
        return faces


class InsightfaceOnnxDetector:
    """An insightface SCRFD/RetinaFace ONNX detector from a folder the user provides.

    Nothing is downloaded: the folder must hold the `.onnx` file (e.g. `buffalo_l/det_10g.onnx`).
    """

    name = "insightface"

    def __init__(self, config: DetectorConfig) -> None:
        folder = Path(config.backend.split(":", 1)[1]).expanduser()
        candidates = (
            sorted(folder.glob("det_*.onnx"))
            + sorted(folder.glob("*scrfd*.onnx"))
            + sorted(folder.glob("*retinaface*.onnx"))
        )
        if not folder.is_dir() or not candidates:
            raise FileNotFoundError(
                f"insightface detector: no detection model in {folder}; put an SCRFD or RetinaFace "
                "ONNX file there (e.g. det_10g.onnx from insightface's buffalo_l pack)"
            )
        try:
            import onnxruntime
            from insightface.model_zoo import get_model
        except ImportError as error:  # pragma: no cover - install problem
            raise _missing("insightface", "insightface detector") from error
        providers = [
            p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in onnxruntime.get_available_providers()
        ]
        self._model = get_model(str(candidates[0]), providers=providers)
        self._model.prepare(ctx_id=0 if providers[0].startswith("CUDA") else -1, det_thresh=config.stage_thresholds[2])
        self.version = f"{candidates[0].name}@insightface-{importlib.metadata.version('insightface')}"
        os.environ.setdefault("OMP_NUM_THREADS", str(config.threads))

    def __call__(self, images: list[np.ndarray], *, min_face_size: int) -> list[list[Face]]:
        results = []
        for image in images:
            bboxes, kpss = self._model.detect(np.ascontiguousarray(image[:, :, ::-1]), max_num=0)
            faces = []
            for i, box in enumerate(bboxes):
                face = Face(box=box[:4].astype(np.float32), score=float(box[4]), landmarks=kpss[i].astype(np.float32))
                if face.size >= min_face_size:
                    faces.append(face)
            results.append(faces)
        return results


def build_detector(config: DetectorConfig) -> FaceDetector:
    if config.backend == "mtcnn":
        return MtcnnDetector(config)
    return InsightfaceOnnxDetector(config)


@lru_cache(maxsize=2)
def cached_detector(config: DetectorConfig) -> FaceDetector:
    """One detector per process and config: worker processes are reused across videos,
    so the model is loaded once per worker, not once per video."""
    return build_detector(config)
