"""Evaluate a trained classifier the way the field reports it, and write the model card.

Two thresholds, both chosen on the validation subjects (never on test): the frame threshold
is the EER threshold of the validation frames' scores, the video threshold the EER threshold
of the validation videos' mean scores. Test metrics are reported at frame level (frame
threshold) and at video level (mean score per video, video threshold), with APCER per attack
type and its maximum (ISO/IEC 30107-3, the ACER's input), per attack species (type and
medium: print-1 ... replay-4) and pooled over all attacks (the CDCN code's APCER).

Which figure to compare with what: the test split's own EER is the figure comparable with
published SiW tables (theirs report APCER = BPCER = ACER, an operating point at the test
set's EER); the ACER at the validation thresholds is facelake's operating figure, what a
deployed model with a threshold fixed before seeing the test data achieves.
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
    """The frames of `table` (label, attack type, video id and, when the table has it, medium) with their scores."""
    media = None
    if "medium" in table.column_names:
        media = np.array(table.column("medium").to_pylist(), dtype=object)
    return PadScores(
        scores=np.asarray(scores, dtype=np.float64),
        is_attack=np.array([label == Label.SPOOF for label in table.column("label").to_pylist()]),
        attack_types=np.array(table.column("attack_type").to_pylist(), dtype=object),
        groups=np.array(table.column("video_id").to_pylist(), dtype=object),
        media=media,
    )


FRAME_THRESHOLD_FROM = "validation EER"  # metrics.json's `threshold_from` since the first model folders
VIDEO_THRESHOLD_FROM = "validation video-level EER (the EER threshold of the validation videos' mean scores)"
PUBLISHED_ABOUT = (
    "the test split's own EER: the figure comparable with published SiW tables (their APCER = BPCER = ACER "
    "is an operating point at the test set's EER)"
)
OPERATING_ABOUT = (
    "ACER at the thresholds chosen on the validation subjects (frames: frame threshold; videos: video "
    "threshold): facelake's operating figure"
)


@dataclass
class Evaluation:
    """A fold's evaluation: the frame threshold (`threshold`, from validation frames), the video threshold
    (from validation video means) and the test reports at frame and video level."""

    threshold: float
    video_threshold: float
    validation_frame: PadScores
    test_frame: PadScores
    frame: PadReport
    video: PadReport

    def to_dict(self) -> dict:
        """metrics.json's evaluation keys. `threshold` stays the frame threshold (predict reads it)."""
        return {
            "threshold": self.threshold,
            "threshold_from": FRAME_THRESHOLD_FROM,
            "frame_threshold": self.threshold,
            "video_threshold": self.video_threshold,
            "video_threshold_from": VIDEO_THRESHOLD_FROM,
            "test_frame": self.frame.to_dict(),
            "test_video": self.video.to_dict(),
            "comparable_with_published": {
                "frame_test_eer": self.frame.eer,
                "video_test_eer": self.video.eer,
                "about": PUBLISHED_ABOUT,
            },
            "operating_point": {
                "frame_acer": self.frame.acer,
                "video_acer": self.video.acer,
                "about": OPERATING_ABOUT,
            },
        }


def evaluate(validation: PadScores, test: PadScores) -> Evaluation:
    """Thresholds on `validation` (frame scores, and video means for the video level), metrics on `test`."""
    threshold = threshold_at_eer(validation)
    video_threshold = threshold_at_eer(video_level(validation))
    return Evaluation(
        threshold=threshold,
        video_threshold=video_threshold,
        validation_frame=validation,
        test_frame=test,
        frame=pad_report(test, threshold),
        video=pad_report(video_level(test), video_threshold),
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
        f"- decision on a frame: spoof when P(spoof) >= {evaluation.threshold:.4f} (frame threshold: the EER "
        "threshold of the validation subjects' frame scores)",
        f"- decision on a video: spoof when its frames' mean P(spoof) >= {evaluation.video_threshold:.4f} (video "
        "threshold: the EER threshold of the validation subjects' video means)",
        *_sharpness_lines(sharpness),
        "",
        "## Headline figures (%)",
        f"- comparable with published SiW tables: test EER {frame.eer * 100:.2f} (frames), {video.eer * 100:.2f} "
        "(videos). Those tables report APCER = BPCER = ACER, an operating point at the test set's own EER",
        f"- facelake's operating figure: ACER {frame.acer * 100:.2f} (frames), {video.acer * 100:.2f} (videos) "
        "at the thresholds chosen on the validation subjects, never on test",
        "",
        "## Counts (faces per attack type)",
        "```json",
        json.dumps(counts, indent=2, sort_keys=True, default=str),
        "```",
        "",
        "## Test metrics (%)",
        "APCER per type and its maximum (ISO/IEC 30107-3's APCER, the ACER's input); per species (type-medium, "
        "as bob.db.siw); pooled over all attacks (the CDCN code's APCER, HTER's input). EER and AUC need no "
        "threshold.",
        "",
        "| level | threshold | APCER per type | max APCER (ISO) | APCER per species | pooled APCER | BPCER | ACER "
        "| HTER | EER | AUC |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, report in (("frame", frame), ("video", video)):
        per_type = ", ".join(f"{k} {v * 100:.2f}" for k, v in sorted(report.apcer.items()))
        per_species = ", ".join(f"{k} {v * 100:.2f}" for k, v in report.apcer_per_species.items()) or "–"
        lines.append(
            f"| {name} | {report.threshold:.4f} | {per_type} | {report.max_apcer * 100:.2f} | {per_species} | "
            f"{report.apcer_pooled * 100:.2f} | {report.bpcer * 100:.2f} | {report.acer * 100:.2f} | "
            f"{report.hter * 100:.2f} | {report.eer * 100:.2f} | {report.auc:.4f} |"
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
