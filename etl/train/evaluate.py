"""Evaluate a trained classifier the way the field reports it, and write the model card.

The decision threshold is the EER threshold on the validation subjects (never on
test); test metrics are reported at frame level and at video level (mean score per
video), with APCER per attack type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from etl.train.input import base_size, center_crop, decode_faces
from etl.train.metrics import PadReport, PadScores, pad_report, threshold_at_eer, video_level
from schemas.vocabulary import Label


def faces_of(table: pa.Table, input_size: int) -> np.ndarray:
    """Centre-cropped model inputs for every row's aligned face."""
    return center_crop(decode_faces(table.column("aligned").to_pylist(), base_size(input_size)), input_size)


def pad_scores(table: pa.Table, scores: np.ndarray) -> PadScores:
    return PadScores(
        scores=np.asarray(scores, dtype=np.float64),
        is_attack=np.array([label == Label.SPOOF for label in table.column("label").to_pylist()]),
        attack_types=np.array(table.column("attack_type").to_pylist(), dtype=object),
        groups=np.array(table.column("video_id").to_pylist(), dtype=object),
    )


@dataclass
class Evaluation:
    threshold: float
    validation_frame: PadScores
    test_frame: PadScores
    frame: PadReport
    video: PadReport

    def to_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "threshold_from": "validation EER",
            "test_frame": self.frame.to_dict(),
            "test_video": self.video.to_dict(),
        }


def evaluate(validation: PadScores, test: PadScores) -> Evaluation:
    threshold = threshold_at_eer(validation)
    return Evaluation(
        threshold=threshold,
        validation_frame=validation,
        test_frame=test,
        frame=pad_report(test, threshold),
        video=pad_report(video_level(test), threshold),
    )


def _sharpness_lines(sharpness: dict | None) -> list[str]:
    if not sharpness:
        return []
    gate = sharpness.get("gate")
    trained = f"faces with a sharpness count >= {gate}" if gate is not None else "every face (no sharpness gate)"
    percentiles = ", ".join(f"{k} {v}" for k, v in sharpness.items() if k.startswith("p") and v is not None)
    return [
        f"- sharpness: trained on {trained}; the {sharpness.get('faces', 0)} training faces' sharpness counts "
        f"(Android measure): {percentiles or 'none'}. `facelake predict` gates at "
        f"{'the training gate' if gate is not None else 'p1'} by default"
    ]


def write_model_card(
    path: Path,
    *,
    protocol: str,
    frames_version: int,
    config: dict,
    counts: dict,
    evaluation: Evaluation,
    best_epoch: int,
    epochs_run: int,
    files: dict[str, str],
    export: dict | None = None,
    sharpness: dict | None = None,
) -> None:
    frame, video = evaluation.frame, evaluation.video
    lines = [
        f"# facelake live/spoof classifier — {protocol}",
        "",
        f"- data: lake table `frames` at version {frames_version}, faces with det_status = 'ok'",
        f"- backbone {config['backbone']}, input {config['input_size']}x{config['input_size']} RGB 0..255 "
        "(scaled to [-1, 1] inside the model), 128-d embedding, Dense(2, softmax); class 1 = spoof",
        f"- epochs run {epochs_run}, best (lowest val_loss) epoch {best_epoch}; batch {config['batch_size']}, "
        f"lr schedule {config['lr_schedule']}, workers {config['workers']}",
        f"- decision: spoof when P(spoof) >= {evaluation.threshold:.4f} (EER threshold on the validation subjects)",
        *_sharpness_lines(sharpness),
        "",
        "## Counts (faces per attack type)",
        "```json",
        json.dumps(counts, indent=2, sort_keys=True, default=str),
        "```",
        "",
        "## Test metrics (%)",
        "| level | APCER per type | max APCER | BPCER | ACER | HTER | EER | AUC |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, report in (("frame", frame), ("video", video)):
        per_type = ", ".join(f"{k} {v * 100:.2f}" for k, v in sorted(report.apcer.items()))
        lines.append(
            f"| {name} | {per_type} | {report.max_apcer * 100:.2f} | {report.bpcer * 100:.2f} | "
            f"{report.acer * 100:.2f} | {report.hter * 100:.2f} | {report.eer * 100:.2f} | {report.auc:.4f} |"
        )
    if export and export.get("faces"):
        lines += [
            "",
            f"## Exported models vs Keras ({export['faces']} test faces)",
            f"- float TFLite: max |score difference| {export['tflite_max_abs_diff']:.2g}",
            f"- int8 TFLite: mean |score difference| {export['int8_mean_abs_diff']:.3f}, "
            f"same decision on {export['int8_decision_agreement'] * 100:.1f} % of faces",
        ]
    lines += ["", "## Files", *[f"- {kind}: `{name}`" for kind, name in sorted(files.items())], ""]
    path.write_text("\n".join(lines))
