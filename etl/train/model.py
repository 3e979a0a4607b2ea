"""The live/spoof classifier of the notes: backbone -> 128-d embedding -> Dense(2, softmax).

Built with tf-keras (Keras 2): Ray Train's MultiWorkerMirroredStrategy fails inside
`fit` with Keras 3 (DOMAIN.md), so every process that builds, trains or loads the
model sets TF_USE_LEGACY_KERAS=1 first (`use_legacy_keras`). Scaling to [-1, 1] is a
layer of the model, so Keras, SavedModel and TFLite all take the same raw 0..255 RGB
input. Class 1 is spoof; the spoof probability is the attack score of the metrics.
"""

from __future__ import annotations

import os

EMBEDDING_SIZE = 128
SPOOF_CLASS = 1
BN_MOMENTUM = 0.9


def use_legacy_keras() -> None:
    """Must run before TensorFlow is imported in this process."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"


def keras_module():
    use_legacy_keras()
    import tf_keras

    return tf_keras


def backbone_names() -> list[str]:
    keras = keras_module()
    return sorted(n for n in dir(keras.applications) if n[0].isupper())


def build_model(*, backbone: str = "MobileNet", input_size: int = 48, seed: int = 0):
    """A fresh model (random weights: nothing is downloaded)."""
    keras = keras_module()
    if not hasattr(keras.applications, backbone):
        raise ValueError(
            f"backbone {backbone!r} is not a keras.applications model; e.g. MobileNet, MobileNetV2, ResNet50"
        )
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(input_size, input_size, 3), name="face_rgb")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_unit_range")(inputs)
    base = getattr(keras.applications, backbone)(
        input_shape=(input_size, input_size, 3), include_top=False, weights=None, pooling="avg"
    )
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            # Keras' 0.99 needs hundreds of steps before inference-mode statistics mean anything;
            # 0.9 settles within tens, which short runs and small data sets need
            layer.momentum = BN_MOMENTUM
    x = base(x)
    x = keras.layers.Dense(EMBEDDING_SIZE, name="embedding")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="embedding_bn")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="live_spoof")(x)
    return keras.Model(inputs, outputs, name=f"facelake_pad_{backbone.lower()}")


def load_model(path: str):
    keras = keras_module()
    return keras.models.load_model(path, compile=False)
