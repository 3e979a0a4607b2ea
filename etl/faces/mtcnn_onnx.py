"""MTCNN's nets as ONNX graphs, built in memory from the weights inside the `mtcnn` package.

Nothing is downloaded or converted by a tool: the package ships each net's Keras weights
(`mtcnn/assets/weights/*.lz4`, joblib), in the order its Keras layers create them, and the
architectures are fixed (mtcnn/network/*.py). We write the same layers as ONNX nodes, so
onnxruntime runs them on the CPU, or on CUDA where onnxruntime-gpu and a GPU are present,
without TensorFlow. tests/test_mtcnn_onnx.py checks the graphs against the Keras nets.

Layout: the graphs take NHWC float32 images normalised as mtcnn does ((x - 127.5) / 128),
transpose to NCHW inside, and give the Keras outputs in Keras order.
"""

from __future__ import annotations

import importlib.resources
import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

log = logging.getLogger(f"facelake.{__name__}")

OPSET = 17


@dataclass(frozen=True)
class _Conv:
    channels: int
    kernel: int


@dataclass(frozen=True)
class _Pool:
    size: int
    stride: int
    same: bool  # Keras padding="same": pad at the end so that out = ceil(in / stride)


# ONet (mtcnn/network/onet.py): 48x48 -> box offsets (4), landmarks (10: x1..x5, y1..y5), face probability (2)
_ONET_CONV = (
    (_Conv(32, 3), _Pool(3, 2, True)),
    (_Conv(64, 3), _Pool(3, 2, False)),
    (_Conv(64, 3), _Pool(2, 2, True)),
    (_Conv(128, 2), None),
)
_ONET_INPUT = 48
_ONET_DENSE = 256
_ONET_HEADS = (("offsets", 4, False), ("landmarks", 10, False), ("probability", 2, True))


def _weights(name: str) -> list[np.ndarray]:
    import joblib

    path = importlib.resources.files("mtcnn.assets.weights") / name
    with importlib.resources.as_file(path) as local:
        return [np.asarray(w, dtype=np.float32) for w in joblib.load(local)]


def _pool_pads(size: int, pool: _Pool) -> tuple[int, list[int]]:
    """(output size, ONNX pads [top, left, bottom, right]) of a Keras max pooling."""
    if not pool.same:
        return (size - pool.size) // pool.stride + 1, [0, 0, 0, 0]
    out = -(-size // pool.stride)
    total = max((out - 1) * pool.stride + pool.size - size, 0)
    before = total // 2
    return out, [before, before, total - before, total - before]


def onet_graph() -> bytes:
    """The serialized ONNX model of MTCNN's ONet with the package's weights."""
    from onnx import TensorProto, helper, numpy_helper

    weights = iter(_weights("onet.lz4"))
    nodes, inits = [], []

    def constant(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name))
        return name

    def prelu(x: str, name: str, alpha: np.ndarray, channels_first: bool) -> str:
        # Keras PReLU: f(x) = max(0, x) + alpha * min(0, x); alpha per channel
        slope = alpha.reshape(-1, 1, 1) if channels_first else alpha.reshape(-1)
        nodes.append(helper.make_node("PRelu", [x, constant(f"{name}_alpha", slope)], [f"{name}_out"]))
        return f"{name}_out"

    nodes.append(helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]))
    x, size = "nchw", _ONET_INPUT
    for number, (conv, pool) in enumerate(_ONET_CONV, 1):
        kernel, bias, alpha = next(weights), next(weights), next(weights)
        # Keras kernel HWIO -> ONNX OIHW
        w = constant(f"conv{number}_w", kernel.transpose(3, 2, 0, 1))
        b = constant(f"conv{number}_b", bias)
        nodes.append(helper.make_node("Conv", [x, w, b], [f"conv{number}"], kernel_shape=[conv.kernel] * 2))
        size = size - conv.kernel + 1
        x = prelu(f"conv{number}", f"prelu{number}", alpha, channels_first=True)
        if pool is not None:
            size, pads = _pool_pads(size, pool)
            nodes.append(
                helper.make_node(
                    "MaxPool",
                    [x],
                    [f"pool{number}"],
                    kernel_shape=[pool.size] * 2,
                    strides=[pool.stride] * 2,
                    pads=pads,
                )
            )
            x = f"pool{number}"
    # Keras permutes (H, W) and flattens channels-last: NCHW -> N W H C
    nodes.append(helper.make_node("Transpose", [x], ["whc"], perm=[0, 3, 2, 1]))
    nodes.append(helper.make_node("Flatten", ["whc"], ["flat"], axis=1))
    kernel, bias, alpha = next(weights), next(weights), next(weights)
    nodes.append(helper.make_node("Gemm", ["flat", constant("fc_w", kernel), constant("fc_b", bias)], ["fc"]))
    x = prelu("fc", "prelu_fc", alpha, channels_first=False)
    outputs = []
    for name, width, softmax in _ONET_HEADS:
        kernel, bias = next(weights), next(weights)
        raw = f"{name}_raw" if softmax else name
        nodes.append(helper.make_node("Gemm", [x, constant(f"{name}_w", kernel), constant(f"{name}_b", bias)], [raw]))
        if softmax:
            nodes.append(helper.make_node("Softmax", [raw], [name], axis=1))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, width]))
    if next(weights, None) is not None:
        raise ValueError("mtcnn's onet.lz4 holds more arrays than ONet's layers: the package's ONet changed")
    graph = helper.make_graph(
        nodes,
        "mtcnn_onet",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, _ONET_INPUT, _ONET_INPUT, 3])],
        outputs,
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="facelake")
    return model.SerializeToString()


def execution_providers() -> list[str]:
    """CUDA when onnxruntime has it and a GPU is there, the CPU always."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


class OnnxONet:
    """ONet on 48x48 patches through onnxruntime: (offsets, landmarks, face probability) per patch."""

    def __init__(self, threads: int = 1) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.providers = execution_providers()
        self._session = onnxruntime.InferenceSession(_cached_onet_graph(), options, providers=self.providers)
        log.info("ONet on onnxruntime %s, providers %s", onnxruntime.__version__, self.providers)

    def __call__(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        offsets, landmarks, probability = self._session.run(None, {"image": np.ascontiguousarray(patches, np.float32)})
        return offsets, landmarks, probability[:, 1]


@lru_cache(maxsize=1)
def _cached_onet_graph() -> bytes:
    return onet_graph()
