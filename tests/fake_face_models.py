"""Tiny FAKE face-recognition models for tests, with exact numpy reference forwards.

No real recognition weights exist in the test environment (and nothing may be
downloaded), so the insightface and keras embedder backends are tested on small models
with fixed random weights. They recognise nobody; they exist to check that a backend
loads the file, feeds it the right pixels (colour order, scaling, layout, resizing) and
normalises its output. Each writer has a numpy forward of the same graph, taking the
aligned RGB uint8 faces the embedders take, preprocessing included.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

FAKE_CONV_CHANNELS = 4
FAKE_CONV_KERNEL = 8  # the fake ArcFace conv: 8x8 kernel, stride 8
FAKE_POOL = 8  # the fake keras model's average-pooling size


def _fake_arcface_weights(dim: int, seed: int, size: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    cells = size // FAKE_CONV_KERNEL
    features = FAKE_CONV_CHANNELS * cells * cells
    return {
        "conv_w": rng.normal(0.0, 0.1, (FAKE_CONV_CHANNELS, 3, FAKE_CONV_KERNEL, FAKE_CONV_KERNEL)).astype(np.float32),
        "conv_b": rng.normal(0.0, 0.1, (FAKE_CONV_CHANNELS,)).astype(np.float32),
        "gemm_w": rng.normal(0.0, 1.0 / np.sqrt(features), (dim, features)).astype(np.float32),
        "gemm_b": rng.normal(0.0, 0.1, (dim,)).astype(np.float32),
    }


def write_fake_arcface_onnx(path: Path, dim: int = 512, seed: int = 0, *, size: int = 112) -> Path:
    """Write a fake ArcFace-like ONNX model; returns the file path.

    `path` is a file, or a folder to write `fake_arcface_r{seed}.onnx` into. Graph:
    input "data" float [N, 3, size, size] (RGB, scaled to [-1, 1] by the caller, as
    insightface's ArcFaceONNX does) -> Conv 8x8 stride 8 to 4 channels -> Flatten ->
    Gemm to `dim`. Node names must not start with "Sub"/"Mul": ArcFaceONNX would then
    take the model for an MXNet export that scales its own input.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if size % FAKE_CONV_KERNEL:
        raise ValueError(f"size must be a multiple of {FAKE_CONV_KERNEL}, got {size}")
    path = Path(path)
    if path.is_dir():
        path = path / f"fake_arcface_r{seed}.onnx"
    weights = _fake_arcface_weights(dim, seed, size)
    initializers = [numpy_helper.from_array(array, name=name) for name, array in weights.items()]
    nodes = [
        helper.make_node(
            "Conv",
            ["data", "conv_w", "conv_b"],
            ["conv_out"],
            name="fake_conv",
            kernel_shape=[FAKE_CONV_KERNEL, FAKE_CONV_KERNEL],
            strides=[FAKE_CONV_KERNEL, FAKE_CONV_KERNEL],
        ),
        helper.make_node("Flatten", ["conv_out"], ["flat"], name="fake_flatten", axis=1),
        helper.make_node("Gemm", ["flat", "gemm_w", "gemm_b"], ["fc1"], name="fake_gemm", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "fake_arcface",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, ["N", dim])],
        initializer=initializers,
    )
    # an old opset and IR version every onnxruntime of the last years can run
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="facelake-tests-fake")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def fake_arcface_reference(faces_rgb_uint8: np.ndarray | list[np.ndarray], dim: int = 512, seed: int = 0) -> np.ndarray:
    """Unnormalised output of `write_fake_arcface_onnx(dim=dim, seed=seed)` for RGB uint8
    faces (n, H, W, 3) already at the model's input size, preprocessing included."""
    faces = np.asarray(faces_rgb_uint8)
    n, size = faces.shape[0], faces.shape[1]
    weights = _fake_arcface_weights(dim, seed, size)
    x = (faces.astype(np.float64) - 127.5) / 127.5  # (n, H, W, 3), channels R, G, B
    cells, k = size // FAKE_CONV_KERNEL, FAKE_CONV_KERNEL
    blocks = x.reshape(n, cells, k, cells, k, 3)  # n, cell_y, ky, cell_x, kx, channel
    conv = np.einsum("nyixjc,ocij->noyx", blocks, weights["conv_w"].astype(np.float64))
    conv += weights["conv_b"][None, :, None, None]
    flat = conv.reshape(n, -1)  # ONNX Flatten of NCHW: channel-major
    return (flat @ weights["gemm_w"].T.astype(np.float64) + weights["gemm_b"]).astype(np.float32)


def _fake_keras_weights(dim: int, seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = (size // FAKE_POOL) ** 2 * 3
    kernel = rng.normal(0.0, 1.0 / np.sqrt(features), (features, dim)).astype(np.float32)
    bias = rng.normal(0.0, 0.1, (dim,)).astype(np.float32)
    return kernel, bias


def write_fake_keras_model(path: Path, dim: int = 512, seed: int = 0, *, size: int = 112) -> Path:
    """Write a fake Keras face model (`.keras`, or legacy HDF5 when `path` ends in `.h5`).

    `path` is a file, or a folder to write `fake_keras_face_r{seed}.keras` into. Graph:
    input (size, size, 3) RGB in [-1, 1] -> AveragePooling2D(8) -> Flatten -> Dense(dim).
    """
    import keras

    path = Path(path)
    if path.is_dir():
        path = path / f"fake_keras_face_r{seed}.keras"
    model = keras.Sequential(
        [
            keras.Input(shape=(size, size, 3)),
            keras.layers.AveragePooling2D(pool_size=FAKE_POOL),
            keras.layers.Flatten(),
            keras.layers.Dense(dim),
        ],
        name="fake_keras_face",
    )
    model.layers[-1].set_weights(list(_fake_keras_weights(dim, seed, size)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # keras 3.15 saving its variables trips NumPy 2's __array__(copy=...) deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        model.save(str(path))
    return path


def fake_keras_reference(faces_rgb_uint8: np.ndarray | list[np.ndarray], dim: int = 512, seed: int = 0) -> np.ndarray:
    """Unnormalised output of `write_fake_keras_model(dim=dim, seed=seed)` for RGB uint8
    faces (n, H, W, 3) at the model's input size, preprocessing included."""
    faces = np.asarray(faces_rgb_uint8)
    n, size = faces.shape[0], faces.shape[1]
    kernel, bias = _fake_keras_weights(dim, seed, size)
    x = (faces.astype(np.float64) - 127.5) / 127.5
    cells = size // FAKE_POOL
    pooled = x.reshape(n, cells, FAKE_POOL, cells, FAKE_POOL, 3).mean(axis=(2, 4))  # n, y, x, c
    flat = pooled.reshape(n, -1)  # Keras Flatten of NHWC: channel fastest
    return (flat @ kernel.astype(np.float64) + bias).astype(np.float32)
