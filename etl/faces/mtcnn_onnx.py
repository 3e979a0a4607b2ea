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

import importlib.util
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

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
    same: bool  # Keras padding="same": padded at the end so that out = ceil(in / stride) (ONNX SAME_UPPER)


@dataclass(frozen=True)
class _Head:
    name: str
    width: int
    softmax: bool


@dataclass(frozen=True)
class _Net:
    """One of MTCNN's nets as mtcnn/network/*.py builds it: conv blocks (conv, PReLU, optional max pool), then
    either a dense layer with PReLU (RNet, ONet) or nothing (PNet, fully convolutional: 1x1 conv heads), then
    the heads in the order the Keras model returns them."""

    weights: str
    blocks: tuple[tuple[_Conv, _Pool | None], ...]
    dense: int | None
    heads: tuple[_Head, ...]
    input_size: int | None  # None: any size (PNet)


NETS = {
    "pnet": _Net(
        "pnet.lz4",
        ((_Conv(10, 3), _Pool(2, 2, True)), (_Conv(16, 3), None), (_Conv(32, 3), None)),
        None,
        (_Head("offsets", 4, False), _Head("probability", 2, True)),
        None,
    ),
    "rnet": _Net(
        "rnet.lz4",
        ((_Conv(28, 3), _Pool(3, 2, True)), (_Conv(48, 3), _Pool(3, 2, False)), (_Conv(64, 2), None)),
        128,
        (_Head("offsets", 4, False), _Head("probability", 2, True)),
        24,
    ),
    "onet": _Net(
        "onet.lz4",
        (
            (_Conv(32, 3), _Pool(3, 2, True)),
            (_Conv(64, 3), _Pool(3, 2, False)),
            (_Conv(64, 3), _Pool(2, 2, True)),
            (_Conv(128, 2), None),
        ),
        256,
        (_Head("offsets", 4, False), _Head("landmarks", 10, False), _Head("probability", 2, True)),
        48,
    ),
}


def _weights(name: str) -> list[np.ndarray]:
    import joblib

    # found, not imported: importing any part of the `mtcnn` package imports TensorFlow
    spec = importlib.util.find_spec("mtcnn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("MTCNN's weights ship in the 'mtcnn' package: pip install mtcnn")
    path = Path(spec.submodule_search_locations[0]) / "assets" / "weights" / name
    return [np.asarray(w, dtype=np.float32) for w in joblib.load(path)]


def net_graph(name: str) -> bytes:
    """The serialized ONNX model of MTCNN's net `name` (pnet, rnet, onet) with the package's weights."""
    from onnx import TensorProto, helper, numpy_helper

    net = NETS[name]
    weights = iter(_weights(net.weights))
    nodes, inits = [], []

    def constant(key: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), key))
        return key

    def node(op: str, inputs: list[str], output: str, **attributes) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def conv(x: str, key: str, kernel: np.ndarray, bias: np.ndarray) -> str:
        # Keras kernel HWIO -> ONNX OIHW
        w, b = constant(f"{key}_w", kernel.transpose(3, 2, 0, 1)), constant(f"{key}_b", bias)
        return node("Conv", [x, w, b], key, kernel_shape=list(kernel.shape[:2]))

    def prelu(x: str, key: str, alpha: np.ndarray, channels_first: bool) -> str:
        # Keras PReLU: max(0, x) + alpha * min(0, x), alpha per channel
        slope = alpha.reshape(-1, 1, 1) if channels_first else alpha.reshape(-1)
        return node("PRelu", [x, constant(f"{key}_alpha", slope)], key)

    x = node("Transpose", ["image"], "nchw", perm=[0, 3, 1, 2])
    for number, (block, pool) in enumerate(net.blocks, 1):
        x = conv(x, f"conv{number}", next(weights), next(weights))
        x = prelu(x, f"prelu{number}", next(weights), channels_first=True)
        if pool is not None:
            padding = {"auto_pad": "SAME_UPPER"} if pool.same else {}
            x = node(
                "MaxPool", [x], f"pool{number}", kernel_shape=[pool.size] * 2, strides=[pool.stride] * 2, **padding
            )
    outputs = []
    if net.dense is None:  # PNet: 1x1 conv heads, outputs back to NHWC as Keras gives them
        for head in net.heads:
            y = conv(x, f"{head.name}_conv", next(weights), next(weights))
            if head.softmax:
                y = node("Softmax", [y], f"{head.name}_softmax", axis=1)
            node("Transpose", [y], head.name, perm=[0, 2, 3, 1])
            outputs.append(helper.make_tensor_value_info(head.name, TensorProto.FLOAT, [None, None, None, head.width]))
    else:
        # Keras permutes (H, W) and flattens channels-last: NCHW -> N W H C
        x = node("Flatten", [node("Transpose", [x], "whc", perm=[0, 3, 2, 1])], "flat", axis=1)
        x = node("Gemm", [x, constant("fc_w", next(weights)), constant("fc_b", next(weights))], "fc")
        x = prelu(x, "prelu_fc", next(weights), channels_first=False)
        for head in net.heads:
            w, b = constant(f"{head.name}_w", next(weights)), constant(f"{head.name}_b", next(weights))
            y = node("Gemm", [x, w, b], f"{head.name}_raw" if head.softmax else head.name)
            if head.softmax:
                node("Softmax", [y], head.name, axis=1)
            outputs.append(helper.make_tensor_value_info(head.name, TensorProto.FLOAT, [None, head.width]))
    if next(weights, None) is not None:
        raise ValueError(f"mtcnn's {net.weights} holds more arrays than the net's layers: the package's {name} changed")
    size = net.input_size
    graph = helper.make_graph(
        nodes,
        f"mtcnn_{name}",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, size, size, 3])],
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


class _Outputs(np.ndarray):
    """A net output as the `mtcnn` stages use their Keras outputs (they call `.numpy()` on them)."""

    def numpy(self) -> np.ndarray:
        return np.asarray(self)


class OnnxNet:
    """One MTCNN net on onnxruntime, called like its Keras model: a batch of NHWC images in (a numpy array or a
    TensorFlow tensor), the outputs in the Keras model's order out."""

    def __init__(self, name: str, threads: int = 1) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.name, self.providers = name, execution_providers()
        self._session = onnxruntime.InferenceSession(_cached_graph(name), options, providers=self.providers)

    def __call__(self, images, *args, **kwargs) -> list[np.ndarray]:
        batch = np.ascontiguousarray(np.asarray(images), dtype=np.float32)
        return [output.view(_Outputs) for output in self._session.run(None, {"image": batch})]


class OnnxONet:
    """ONet on 48x48 patches through onnxruntime: (offsets, landmarks, face probability) per patch."""

    def __init__(self, threads: int = 1) -> None:
        self._net = OnnxNet("onet", threads)
        self.providers = self._net.providers

    def __call__(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        offsets, landmarks, probability = (np.asarray(o) for o in self._net(patches))
        return offsets, landmarks, probability[:, 1]


@lru_cache(maxsize=3)
def _cached_graph(name: str) -> bytes:
    return net_graph(name)
