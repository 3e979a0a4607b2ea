"""MTCNN as the `mtcnn` package runs it: its stage objects, TensorFlow image ops, Keras nets.

This is how the original notes detected faces, kept for the benchmarks' baseline and for the
tests that hold etl/faces/mtcnn_cascade.py to the package. Ingest does not use it: importing
the package imports TensorFlow. Two changes to the package, as everywhere in facelake:

- PNet's scale pyramid stops at PNet's 12-pixel input (`bounded_scale_pyramid`): mtcnn 1.0
  sizes its pyramid as if the first scale were 1, so with `min_face_size=40` the last levels
  fall below 12 pixels and the whole call returns no face (DOMAIN.md);
- `onnx_nets=True` swaps the three Keras nets for our onnxruntime graphs of the same weights
  (etl/faces/mtcnn_onnx.py), leaving the package's stage code as it is.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from etl.faces.mtcnn_cascade import bounded_scale_pyramid
from etl.faces.mtcnn_onnx import OnnxNet
from etl.faces.tensorflow_threads import limit_tensorflow_threads


class PackageMtcnn:
    """The package's MTCNN pipeline, called like MtcnnCascade: images in, (n, 16) rows out."""

    def __init__(self, threads: int = 1, *, onnx_nets: bool = False) -> None:
        import tensorflow as tf
        from mtcnn import MTCNN
        from mtcnn.stages import StageONet, StageRNet

        limit_tensorflow_threads(tf, threads)
        self.device = "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"
        stages = [_pyramid_pnet_class()(), StageRNet(), StageONet()]
        if onnx_nets:
            for stage, net in zip(stages, ("pnet", "rnet", "onet")):
                stage._model = OnnxNet(net, threads)
        self.nets = f"onnxruntime {stages[0]._model.providers}" if onnx_nets else f"TensorFlow {self.device}"
        self._mtcnn = MTCNN(stages=stages, device=self.device)

    def __call__(
        self, images: list[np.ndarray], *, min_face_size: int, thresholds: tuple[float, float, float]
    ) -> np.ndarray:
        raw = self._mtcnn.detect_faces(
            list(images),
            box_format="xyxy",
            output_type="numpy",
            min_face_size=min_face_size,
            threshold_pnet=thresholds[0],
            threshold_rnet=thresholds[1],
            threshold_onet=thresholds[2],
        )
        return np.asarray(raw, dtype=np.float64).reshape(-1, 16)


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
