"""The classifier's input pipeline: aligned PNGs -> base-size arrays -> tf.data with augmentation.

Faces are decoded and resized once to a base size a little larger than the model input;
tf.data then caches them and only afterwards shuffles and applies the random crop and
flip. The order is the notes' lesson: with `cache()` after the random map, every epoch
would replay the first epoch's augmented images.
"""

from __future__ import annotations

import cv2
import numpy as np

from etl.faces.encode import decode_image

CROP_MARGIN = 1.15  # base size = input size x this: room for the random crop
CLASSES = 2  # live, spoof
# photometric jitter ranges (pixel values 0..255): brightness +-, contrast and saturation factor 1 +-
JITTER_BRIGHTNESS, JITTER_CONTRAST, JITTER_SATURATION = 20.0, 0.15, 0.3


def base_size(input_size: int) -> int:
    return int(round(input_size * CROP_MARGIN))


def decode_faces(pngs: list[bytes], size: int) -> np.ndarray:
    """(n, size, size, 3) uint8 RGB from aligned-face PNGs."""
    out = np.empty((len(pngs), size, size, 3), dtype=np.uint8)
    for i, png in enumerate(pngs):
        out[i] = cv2.resize(decode_image(png), (size, size), interpolation=cv2.INTER_AREA)
    return out


def center_crop(images: np.ndarray, input_size: int) -> np.ndarray:
    offset = (images.shape[1] - input_size) // 2
    return images[:, offset : offset + input_size, offset : offset + input_size]


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    input_size: int,
    batch_size: int,
    training: bool,
    seed: int = 0,
    shuffle: bool = True,
    repeat: bool = False,
    class_weight: dict[int, float] | None = None,
):
    """A tf.data pipeline of (float image 0..255, one-hot label[, weight]) batches.

    training: cache -> shuffle -> random crop, flip and photometric jitter; else a
    centre crop. The jitter (brightness, contrast, saturation) keeps the model from
    telling live from spoof by a subject's overall colour, which does not carry over
    to unseen subjects. `class_weight` adds a per-example weight (Keras' own
    `class_weight` argument does not accept the per-replica datasets multi-worker
    training uses).
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32))).cache()
    if training:
        if shuffle:
            dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)

        def augment(image, label):
            image = tf.image.random_crop(image, (input_size, input_size, 3), seed=seed)
            image = tf.image.random_flip_left_right(image, seed=seed + 1)
            image = tf.cast(image, tf.float32)
            image = tf.image.random_brightness(image, JITTER_BRIGHTNESS, seed=seed + 2)
            image = tf.image.random_contrast(image, 1 - JITTER_CONTRAST, 1 + JITTER_CONTRAST, seed=seed + 3)
            image = tf.image.random_saturation(image, 1 - JITTER_SATURATION, 1 + JITTER_SATURATION, seed=seed + 4)
            return tf.clip_by_value(image, 0.0, 255.0), label

        dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        offset = (images.shape[1] - input_size) // 2

        def crop(image, label):
            image = tf.image.crop_to_bounding_box(image, offset, offset, input_size, input_size)
            return tf.cast(image, tf.float32), label

        dataset = dataset.map(crop, num_parallel_calls=tf.data.AUTOTUNE)
    if class_weight is not None:
        weights = tf.constant([class_weight[c] for c in range(max(class_weight) + 1)], tf.float32)
        dataset = dataset.map(lambda image, label: (image, tf.one_hot(label, CLASSES), tf.gather(weights, label)))
    else:
        dataset = dataset.map(lambda image, label: (image, tf.one_hot(label, CLASSES)))
    if repeat:
        dataset = dataset.repeat()
    options = tf.data.Options()
    # Ray Train already gives each worker its own shard: no second sharding by TensorFlow
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE).with_options(options)
