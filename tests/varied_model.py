"""A freshly initialised live/spoof model whose scores differ from face to face (for tests).

A freshly initialised MobileNet gives P(spoof) = 0.5 for every input: its activations vanish
(~1e-20) through the random layers under the initial BatchNorm statistics, so every comparison
of scores would pass trivially. `with_face_statistics` sets each BatchNorm layer's statistics
from one pass over real faces (momentum 0): still random weights, but varied scores.
"""

from __future__ import annotations

import numpy as np


def _bn_layers(layer, keras):
    if isinstance(layer, keras.layers.BatchNormalization):
        yield layer
    for sub in getattr(layer, "layers", []):
        yield from _bn_layers(sub, keras)


def with_face_statistics(model, faces: np.ndarray):
    """`model` with its BatchNorm moving statistics set to those of `faces` (model inputs)."""
    from etl.train.model import keras_module

    layers = list(_bn_layers(model, keras_module()))
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    model(faces, training=True)  # moving statistics := this batch's statistics
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum
    return model
