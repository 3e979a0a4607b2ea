"""Face detector backends: images in, faces (box, score, 5 landmarks) out.

A backend is a class that loads its model once in `__init__` and detects a batch of
same-sized RGB images in `__call__`. Landmark order everywhere: left eye (image left),
right eye, nose, left mouth corner, right mouth corner; the order of the ArcFace template.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from etl.config import DetectorConfig
from etl.faces.mtcnn_onnx import OnnxNet
from etl.faces.tensorflow_threads import limit_tensorflow_threads

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
    """MTCNN from the `mtcnn` package (TensorFlow; weights ship inside the package).

    mtcnn 1.0 sizes its scale pyramid as if the first scale were 1, so with
    `min_face_size=40` the last levels fall below PNet's 12-pixel input and the whole call
    returns no face (DOMAIN.md). We replace the PNet stage with one that stops the
    pyramid at 12 pixels; everything else is the package's own code and weights.

    The three nets run on onnxruntime (etl/faces/mtcnn_onnx.py: the package's weights as
    ONNX graphs, equal to its Keras nets to 2e-5): TensorFlow's per-call overhead made a
    one-frame cascade cost about 40 ms on a 160 px region, most of it outside the nets'
    arithmetic. The stages' own code (pyramid, patches, NMS, box arithmetic) is unchanged.
    """

    name = "mtcnn"

    def __init__(self, config: DetectorConfig, *, tensorflow_nets: bool = False) -> None:
        """`tensorflow_nets`: keep the package's Keras nets (as the original notes ran them; bench baselines)."""
        try:
            import tensorflow as tf
            from mtcnn import MTCNN
            from mtcnn.stages import StageONet, StageRNet
        except ImportError as error:  # pragma: no cover - install problem
            raise _missing("mtcnn", "MTCNN detector") from error
        limit_tensorflow_threads(tf, config.threads)
        self.version = importlib.metadata.version("mtcnn")
        self._config = config
        device = "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"
        stages = [_pyramid_pnet_class()(), StageRNet(), StageONet()]
        if not tensorflow_nets:
            for stage, net in zip(stages, ("pnet", "rnet", "onet")):
                stage._model = OnnxNet(net, config.threads)
        self._mtcnn = MTCNN(stages=stages, device=device)
        self._thresholds = config.stage_thresholds
        log.info(
            "MTCNN %s, nets on %s, image ops on TensorFlow %s, stage thresholds %s",
            self.version,
            "TensorFlow" if tensorflow_nets else f"onnxruntime {stages[0]._model.providers}",
            device,
            self._thresholds,
        )

    def __call__(self, images: list[np.ndarray], *, min_face_size: int) -> list[list[Face]]:
        if not images:
            return []
        raw = self._mtcnn.detect_faces(
            list(images),
            box_format="xyxy",
            output_type="numpy",
            min_face_size=max(12, int(min_face_size)),
            threshold_pnet=self._thresholds[0],
            threshold_rnet=self._thresholds[1],
            threshold_onet=self._thresholds[2],
        )
        faces: list[list[Face]] = [[] for _ in images]
        for row in np.asarray(raw, dtype=np.float64).reshape(-1, 16):
            # row: image id, x1 y1 x2 y2, confidence, then the 5 landmarks' x values followed by
            # their 5 y values (mtcnn/utils/landmarks.py), in template order
            landmarks = np.stack([row[6:11], row[11:16]], axis=1).astype(np.float32)
            faces[int(row[0])].append(Face(box=row[1:5].astype(np.float32), score=float(row[5]), landmarks=landmarks))
        return faces


@lru_cache(maxsize=1)
def _pyramid_pnet_class():
    """StagePNet with a scale pyramid that never goes below PNet's 12-pixel input."""
    from mtcnn.stages import StagePNet
    from mtcnn.stages.stage_pnet import (
        apply_scales,
        generate_bounding_box,
        resize_to_square,
        smart_nms_from_bboxes,
        upscale_bboxes,
    )

    class BoundedPyramidPNet(StagePNet):
        def __call__(
            self,
            images_normalized,
            images_oshapes,
            min_face_size=20,
            min_size=12,
            scale_factor=0.709,
            threshold_pnet=0.6,
            nms_pnet1=0.5,
            nms_pnet2=0.7,
            **kwargs,
        ):
            scales_groups = [
                bounded_scale_pyramid(int(s[1]), int(s[0]), min_face_size, scale_factor, min_size)
                for s in images_oshapes
            ]
            if any(len(g) == 0 for g in scales_groups):
                return np.empty((0, 6))
            scales_result, scales_index = apply_scales(images_normalized, scales_groups)
            batch_size = images_normalized.shape[0]
            pnet_result = [self._model(s) for s in scales_result]
            proposals = [generate_bounding_box(r[0], r[1], threshold_pnet) for r in pnet_result]
            upscaled = [
                upscale_bboxes(b, np.asarray([scale] * batch_size)) for b, scale in zip(proposals, scales_index)
            ]
            per_scale = [
                smart_nms_from_bboxes(b, threshold=nms_pnet1, method="union", initial_sort=False) for b in upscaled
            ]
            merged = np.concatenate(per_scale, axis=0) if per_scale else np.empty((0, 6))
            merged = smart_nms_from_bboxes(merged, threshold=nms_pnet2, method="union", initial_sort=True)
            return resize_to_square(merged)

    return BoundedPyramidPNet


def bounded_scale_pyramid(
    width: int, height: int, min_face_size: float, scale_factor: float, min_size: int = 12
) -> np.ndarray:
    """Scales m, m*f, m*f^2, ... with m = min_size / min_face_size, while the scaled image
    side stays >= min_size (the PNet input)."""
    first = min_size / float(min_face_size)
    smallest = min(width, height)
    scales = []
    scale = first
    while smallest * scale >= min_size:
        scales.append(scale)
        scale *= scale_factor
    return np.asarray(scales, dtype=np.float64)


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
