"""Score faces with a trained classifier, and export it: Keras, SavedModel, float and int8 TFLite.

Every format takes the same raw RGB 0..255 float input of the model's input size (the
[-1, 1] scaling is a layer), and gives (live, spoof) probabilities.

`sharpness_profile` records, next to the model (in metrics.json and the model card), how
sharp its training faces were and the gate training used: `facelake predict` derives its
default sharpness gate from it, so faces like the training data are not refused as blurry.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from etl.train.model import SPOOF_CLASS, keras_module

log = logging.getLogger(f"facelake.{__name__}")

KERAS_FILE = "model.keras"
SAVED_MODEL_DIR = "saved_model"
TFLITE_FILE = "model.tflite"
TFLITE_INT8_FILE = "model_int8.tflite"
REPRESENTATIVE_FACES = 200  # int8 calibration sample
EXPORT_CHECK_FACES = 2000  # test faces the TFLite files are compared on
SHARPNESS_PERCENTILES = (1, 5, 50, 95)


def keras_scores(model, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Spoof probability per face; faces (n, s, s, 3) at the model's input size."""
    if len(faces) == 0:
        return np.empty(0, dtype=np.float32)
    probs = model.predict(faces.astype(np.float32), batch_size=batch_size, verbose=0)
    return probs[:, SPOOF_CLASS].astype(np.float32)


class TfliteScorer:
    """A TFLite interpreter that scores one face at a time (as on a phone)."""

    def __init__(self, path: Path | str) -> None:
        import tensorflow as tf

        self.interpreter = tf.lite.Interpreter(model_path=str(path))
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def __call__(self, faces: np.ndarray) -> np.ndarray:
        scores = np.empty(len(faces), dtype=np.float32)
        for i, face in enumerate(faces):
            self.interpreter.set_tensor(self.input["index"], face[None].astype(np.float32))
            self.interpreter.invoke()
            scores[i] = self.interpreter.get_tensor(self.output["index"])[0, SPOOF_CLASS]
        return scores


def export_model(model, out_dir: Path, representative: np.ndarray) -> dict[str, str]:
    """Write every format into out_dir; returns {format: file name}."""
    import tensorflow as tf

    keras_module()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(out_dir / KERAS_FILE)
    model.save(out_dir / SAVED_MODEL_DIR, save_format="tf")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    (out_dir / TFLITE_FILE).write_bytes(converter.convert())
    # evenly spaced over the set, not its first rows (which may all be one video)
    picks = np.unique(np.linspace(0, len(representative) - 1, REPRESENTATIVE_FACES).astype(int))
    sample = representative[picks].astype(np.float32)

    def calibration():
        for face in sample:
            yield [face[None]]

    # weights and activations in int8; input and output stay float, so the same code feeds both
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = calibration
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    (out_dir / TFLITE_INT8_FILE).write_bytes(converter.convert())
    log.info("exported %s, %s, %s and %s to %s", KERAS_FILE, SAVED_MODEL_DIR, TFLITE_FILE, TFLITE_INT8_FILE, out_dir)
    return {"keras": KERAS_FILE, "saved_model": SAVED_MODEL_DIR, "tflite": TFLITE_FILE, "tflite_int8": TFLITE_INT8_FILE}


def sharpness_profile(counts, gate: int | None) -> dict:
    """The training faces' sharpness counts (`etl.faces.sharpness.android_sharpness_count` of each
    detected face box, the frames table's `sharpness_count`) as percentiles, and the gate
    training used (`--min-sharpness`, None for none). Faces without a count are left out."""
    values = np.asarray([v for v in counts if v is not None], dtype=np.float64)
    profile: dict = {"gate": None if gate is None else int(gate), "faces": int(len(values))}
    for q in SHARPNESS_PERCENTILES:
        # "lower": a count some training face really has, not an interpolated one
        profile[f"p{q}"] = int(np.percentile(values, q, method="lower")) if len(values) else None
    return profile


def export_check(out_dir: Path, faces: np.ndarray, keras: np.ndarray, threshold: float) -> dict:
    """How far the TFLite files are from the Keras model on `faces` (at most EXPORT_CHECK_FACES, evenly spaced).

    `keras` holds the Keras scores of the same faces; decisions are `score >= threshold`.
    """
    return export_check_figures(*exported_scores(out_dir, faces, keras), threshold)


def exported_scores(out_dir: Path, faces: np.ndarray, keras: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Keras, float TFLite, int8 TFLite) scores of at most EXPORT_CHECK_FACES of `faces`, evenly spaced."""
    if len(faces) == 0:
        return keras[:0], keras[:0], keras[:0]
    picks = np.unique(np.linspace(0, len(faces) - 1, min(len(faces), EXPORT_CHECK_FACES)).astype(int))
    return (
        keras[picks],
        TfliteScorer(out_dir / TFLITE_FILE)(faces[picks]),
        TfliteScorer(out_dir / TFLITE_INT8_FILE)(faces[picks]),
    )


def export_check_figures(
    reference: np.ndarray, float_scores: np.ndarray, int8_scores: np.ndarray, threshold: float
) -> dict:
    if len(reference) == 0:
        return {"faces": 0}
    return {
        "faces": int(len(reference)),
        "tflite_max_abs_diff": float(np.abs(float_scores - reference).max()),
        "int8_mean_abs_diff": float(np.abs(int8_scores - reference).mean()),
        "int8_decision_agreement": float(np.mean((int8_scores >= threshold) == (reference >= threshold))),
    }


def export_from_datasets(
    model_path: str, out_dir: str, representative, check, input_size: int
) -> tuple[dict[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Export the model at `model_path` into `out_dir`, and score the check faces with every format.

    Runs as a Ray task (so no face reaches the driver), beside the evaluation: `representative`
    and `check` are Ray Datasets of at most REPRESENTATIVE_FACES and EXPORT_CHECK_FACES aligned
    faces (the int8 calibration sample, and test faces). Returns `export_model`'s files and
    `exported_scores` of the check faces (only scores: the threshold comes later).
    """
    import pyarrow as pa

    from etl.train.evaluate import faces_of
    from etl.train.model import load_model

    def faces(dataset) -> np.ndarray:
        batches = list(dataset.iter_batches(batch_format="pyarrow"))
        table = pa.concat_tables(batches) if batches else None
        if table is None or table.num_rows == 0:
            return np.empty((0, input_size, input_size, 3), np.uint8)
        # the order the driver picked them in (evenly spaced over the part), whatever order the reads ended in
        return faces_of(table.sort_by([("video_id", "ascending"), ("frame_index", "ascending")]), input_size)

    model = load_model(model_path)
    files = export_model(model, Path(out_dir), representative=faces(representative))
    check_faces = faces(check)
    return files, exported_scores(Path(out_dir), check_faces, keras_scores(model, check_faces))
