"""Keep TensorFlow to the cores a Ray task was given (the MTCNN detector and a Keras embedder share it)."""

from __future__ import annotations

import logging

log = logging.getLogger(f"facelake.{__name__}")


def limit_tensorflow_threads(tf, threads: int) -> None:
    """Set TensorFlow's intra- and inter-op thread pools to `threads` in this process.

    TensorFlow fixes its pools when it first runs an op; a second call after that (a second
    detector or an embedder in the same worker) leaves the first setting in force.
    """
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        log.debug("TensorFlow threads already set")
