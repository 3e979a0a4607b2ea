"""Score photos and videos with a trained live/spoof model: detect -> align -> gate -> score.

A model folder (what `facelake train` writes) holds `metrics.json` (threshold, input
size, backbone, protocol) and the model in every export format. `Predictor` loads one
format once and scores batches of aligned 112x112 faces with exactly the evaluation
preprocessing of training (`etl.train.input`): resize to `base_size(input_size)` with
INTER_AREA, then a centre crop to `input_size`, raw RGB 0..255 floats (the model scales).

Detection and alignment are those of ingest/register (`find_faces`, `align_face`). Before
a decision, a sharpness gate runs on the detected face box (`android_sharpness_count`,
the Android app's measure): a count below `min_sharpness` gives status `too_blurry`
("retake"): the score is still reported, the decision is not. The default gate comes
from the model (`default_sharpness_gate`): the gate it was trained under, else the 1st
percentile of its training faces' counts, so faces as sharp as the training data pass;
the Android app's own value (1000, at its 256x256 input) is the preset `android`.
Decision: spoof when P(spoof) >= threshold, the rule of the training metrics. A video is
scored every k-th frame (its best face) and gets one summary line: the mean score of its
`ok` frames and the decision on that mean at the model's video threshold (chosen by training
on validation video means; a model folder written before it had one uses the frame
threshold), as the video-level metrics of training do.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from etl.config import DetectorConfig
from etl.errors import UsageError, require
from etl.faces.align import ALIGNED_SIZE, align_face
from etl.faces.detect import Face, FaceDetector, cached_detector
from etl.faces.sharpness import ANDROID_BLUR_GATE, android_sharpness_count
from etl.ingest.photo import decode_photo, find_faces
from etl.sources.decode import FrameReader, VideoDecodeError
from etl.train.export import KERAS_FILE, TFLITE_FILE, TFLITE_INT8_FILE, TfliteScorer, keras_scores
from etl.train.input import base_size, center_crop
from schemas.vocabulary import Label

log = logging.getLogger(f"facelake.{__name__}")

MODEL_FILES = {"keras": KERAS_FILE, "tflite": TFLITE_FILE, "tflite_int8": TFLITE_INT8_FILE}
MODEL_FORMATS = tuple(MODEL_FILES)
METRICS_FILE = "metrics.json"
METRICS_KEYS = ("threshold", "input_size", "backbone", "protocol")
SHARPNESS_KEY = "sharpness"  # optional in metrics.json: `etl.train.export.sharpness_profile`
# named values of the blur gate (`min_sharpness`)
SHARPNESS_PRESETS = {"android": ANDROID_BLUR_GATE, "off": 0}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
VIDEO_SUFFIXES = (".mov", ".mp4", ".avi")
STATUSES = ("ok", "no_face", "too_blurry", "unreadable", "error")
SCORE_BATCH = 32  # video frames whose faces are scored in one model call


class ModelFilesError(UsageError, FileNotFoundError):
    """The model folder lacks a file predict needs (or metrics.json lacks a key) (exit 2)."""


@dataclass(frozen=True)
class PredictConfig:
    """What `run_predict` scores with: a model folder's export, the video frame stride, the blur gate, the detector.

    `min_sharpness` None: the model's default gate (`default_sharpness_gate`); `parse_min_sharpness`
    reads the command line's words for it.
    """

    model: Path
    model_format: str = "keras"
    every_k: int = 5
    min_sharpness: int | None = None
    detector: DetectorConfig = field(default_factory=DetectorConfig)

    def __post_init__(self) -> None:
        require(self.every_k >= 1, f"must be >= 1, got {self.every_k}", option="every_k")
        require(
            self.model_format in MODEL_FILES,
            f"{self.model_format!r} is not one of {', '.join(MODEL_FORMATS)}",
            option="model_format",
        )
        require(
            self.min_sharpness is None or self.min_sharpness >= 0,
            f"must be >= 0 (0 or 'off' disables the gate), got {self.min_sharpness}",
            option="min_sharpness",
        )


@dataclass(frozen=True)
class ModelInfo:
    threshold: float
    input_size: int
    backbone: str
    protocol: str
    sharpness: dict | None = None  # the training faces' sharpness profile; None in older model folders
    video_threshold: float | None = None  # chosen on validation video means; None in older model folders

    def threshold_for(self, *, video: bool) -> float:
        """The decision threshold of a frame or photo score, or of a video's mean score."""
        return self.video_threshold if video and self.video_threshold is not None else self.threshold

    @classmethod
    def from_folder(cls, model_dir: Path) -> ModelInfo:
        path = model_dir / METRICS_FILE
        if not path.is_file():
            raise ModelFilesError(
                f"model folder {model_dir}: {path} is missing (it holds the threshold and input size "
                "that `facelake train` writes next to the model)"
            )
        try:
            metrics = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ModelFilesError(f"{path} is not readable JSON: {error}") from error
        missing = [k for k in METRICS_KEYS if k not in metrics]
        if missing:
            raise ModelFilesError(f"{path} lacks {', '.join(missing)}; it needs {', '.join(METRICS_KEYS)}")
        sharpness = metrics.get(SHARPNESS_KEY)
        if sharpness is not None and not isinstance(sharpness, dict):
            raise UsageError(f"{path}: {SHARPNESS_KEY} must be an object (gate, faces, p1, ...), got {sharpness!r}")
        info = cls(
            threshold=float(metrics["threshold"]),
            input_size=int(metrics["input_size"]),
            backbone=str(metrics["backbone"]),
            protocol=str(metrics["protocol"]),
            sharpness=sharpness,
            video_threshold=None if metrics.get("video_threshold") is None else float(metrics["video_threshold"]),
        )
        for key, value in (("threshold", info.threshold), ("video_threshold", info.video_threshold)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise UsageError(f"{path}: {key} must be in [0, 1], got {value}")
        if not 8 <= info.input_size <= ALIGNED_SIZE * 4:
            raise UsageError(f"{path}: input_size must be in [8, {ALIGNED_SIZE * 4}], got {info.input_size}")
        return info


def default_sharpness_gate(info: ModelInfo) -> tuple[int, str]:
    """The sharpness gate for faces like the model's training data, and where it comes from:
    the gate training used, else the training faces' 1st percentile, else (a model folder
    from before facelake recorded them) no gate."""
    profile = info.sharpness or {}
    if profile.get("gate") is not None:
        return int(profile["gate"]), "the gate the model was trained under"
    if profile.get("p1") is not None:
        return int(profile["p1"]), f"the 1st percentile of the model's {profile.get('faces', 0)} training faces"
    return 0, "off: the model folder does not record its training faces' sharpness (trained by an older facelake)"


def parse_min_sharpness(text: str) -> int | None:
    """The blur gate's words (`min_sharpness`): a count >= 0, `android` (1000), `off` (0) or `model`
    (None: the model's default)."""
    value = str(text).strip().lower()
    if value == "model":
        return None
    if value in SHARPNESS_PRESETS:
        return SHARPNESS_PRESETS[value]
    try:
        count = int(value)
    except ValueError:
        raise UsageError(
            f"takes a count >= 0, 'model', 'android' or 'off'; got {text!r}", option="min_sharpness"
        ) from None
    require(count >= 0, f"must be >= 0 (0 or 'off' disables the gate), got {count}", option="min_sharpness")
    return count


def model_file(model_dir: Path | str, model_format: str) -> Path:
    """The file of one export format in a model folder (ModelFilesError naming it when absent)."""
    if model_format not in MODEL_FILES:
        raise UsageError(f"model format {model_format!r} is not one of {', '.join(MODEL_FORMATS)}")
    path = Path(model_dir) / MODEL_FILES[model_format]
    if not path.is_file():
        raise ModelFilesError(
            f"model folder {model_dir}: {path} is missing; a `facelake train` folder holds "
            f"{', '.join(MODEL_FILES.values())} and {METRICS_FILE}"
        )
    return path


def prepare_faces(aligned: Sequence[np.ndarray] | np.ndarray, input_size: int) -> np.ndarray:
    """(n, s, s, 3) float32 model input from aligned 112x112 RGB faces: the evaluation
    preprocessing of training (`decode_faces` resize to base size, then `center_crop`)."""
    size = base_size(input_size)
    out = np.empty((len(aligned), size, size, 3), dtype=np.uint8)
    for i, face in enumerate(aligned):
        face = np.asarray(face)
        if face.shape != (ALIGNED_SIZE, ALIGNED_SIZE, 3) or face.dtype != np.uint8:
            raise ValueError(
                f"face {i}: expected an aligned {ALIGNED_SIZE}x{ALIGNED_SIZE}x3 uint8 RGB face "
                f"(etl.faces.align.align_face), got shape {face.shape} dtype {face.dtype}"
            )
        out[i] = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
    return center_crop(out, input_size).astype(np.float32)


class Predictor:
    """One model format of a trained model folder, loaded once; `__call__` scores aligned faces."""

    def __init__(self, model_dir: Path | str, *, model_format: str = "keras") -> None:
        self.model_dir = Path(model_dir)
        path = model_file(self.model_dir, model_format)
        self.info = ModelInfo.from_folder(self.model_dir)
        self.model_format = model_format
        if model_format == "keras":
            from etl.train.model import load_model

            self._model = load_model(str(path))
            self._score = lambda faces: keras_scores(self._model, faces)
        else:
            scorer = TfliteScorer(path)
            shape = tuple(int(v) for v in scorer.input["shape"][1:])
            if shape != (self.info.input_size, self.info.input_size, 3):
                raise UsageError(
                    f"{path} takes input {shape}, but {METRICS_FILE} says input_size {self.info.input_size}"
                )
            self._score = scorer
        self.min_sharpness, self.min_sharpness_source = default_sharpness_gate(self.info)
        log.info(
            "loaded %s model %s (%s, input %d, threshold %.4f, protocol %s)",
            model_format,
            path,
            self.info.backbone,
            self.info.input_size,
            self.info.threshold,
            self.info.protocol,
        )

    @property
    def threshold(self) -> float:
        return self.info.threshold

    def __call__(self, aligned_faces: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """P(spoof) per aligned 112x112 RGB face."""
        if len(aligned_faces) == 0:
            return np.empty(0, dtype=np.float32)
        return np.asarray(self._score(prepare_faces(aligned_faces, self.info.input_size)), dtype=np.float32)

    def decide(self, score: float, *, video: bool = False) -> str:
        """spoof when `score` (a face's, or with `video` a video's mean) reaches the model's threshold for it."""
        return Label.SPOOF if score >= self.info.threshold_for(video=video) else Label.LIVE


def _clip_box(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    return max(0, x1), max(0, y1), min(width, x2), min(height, y2)


def face_sharpness(rgb: np.ndarray, face: Face) -> int:
    """The Android app's sharpness count on the detected face box (0 for an empty crop)."""
    x1, y1, x2, y2 = _clip_box(face.box, rgb.shape[1], rgb.shape[0])
    crop = rgb[y1:y2, x1:x2]
    return android_sharpness_count(crop) if crop.size else 0


def _line(path: Path, predictor: Predictor, **values) -> dict:
    line = {
        "path": str(path),
        "face_box": None,
        "det_score": None,
        "sharpness_count": None,
        "status": None,
        "reason": None,
        "score": None,
        "decision": None,
        "threshold": predictor.threshold,
        "model_format": predictor.model_format,
    }
    line.update(values)
    return line


def _face_values(rgb: np.ndarray, face: Face, min_sharpness: int) -> tuple[dict, np.ndarray]:
    count = face_sharpness(rgb, face)
    values = {
        "face_box": [round(float(v), 2) for v in face.box],
        "det_score": round(float(face.score), 6),
        "sharpness_count": count,
        "status": "ok",
    }
    if count < min_sharpness:
        values.update(
            status="too_blurry", reason=f"sharpness {count} below {min_sharpness} (--min-sharpness): too blurry, retake"
        )
    return values, align_face(rgb, face.landmarks)


def _gate(predictor: Predictor, min_sharpness: int | None) -> int:
    return predictor.min_sharpness if min_sharpness is None else min_sharpness


def _score_into(lines: list[dict], faces: list[np.ndarray], predictor: Predictor) -> None:
    """Fill score (and decision when the gate passed) of lines from their aligned faces."""
    for line, score in zip(lines, predictor(faces)):
        line["score"] = float(score)
        line["decision"] = predictor.decide(float(score)) if line["status"] == "ok" else None


def _detector(detector: FaceDetector | None, config: DetectorConfig) -> FaceDetector:
    return detector if detector is not None else cached_detector(config)


def predict_image(
    path: Path | str,
    predictor: Predictor,
    *,
    detector: FaceDetector | None = None,
    detector_config: DetectorConfig | None = None,
    min_sharpness: int | None = None,
) -> list[dict]:
    """One line per accepted face (best first), or one no_face / unreadable line.
    `min_sharpness` None: the model's default gate (`Predictor.min_sharpness`)."""
    path = Path(path)
    min_sharpness = _gate(predictor, min_sharpness)
    config = detector_config or DetectorConfig()
    try:
        data = path.read_bytes()
    except OSError as error:
        return [_line(path, predictor, status="unreadable", reason=f"cannot read the file: {error.strerror or error}")]
    rgb = decode_photo(data)
    if rgb is None:
        return [
            _line(
                path, predictor, status="unreadable", reason="the bytes are not a JPEG or PNG image OpenCV can decode"
            )
        ]
    faces = find_faces(rgb, _detector(detector, config), config)
    if not faces:
        return [
            _line(
                path,
                predictor,
                status="no_face",
                reason=f"no face of >= {config.min_face_size} px with detector score >= {config.accept_score}",
            )
        ]
    lines, aligned = [], []
    for i, face in enumerate(faces):
        values, face_rgb = _face_values(rgb, face, min_sharpness)
        lines.append(_line(path, predictor, face=i, **values))
        aligned.append(face_rgb)
    _score_into(lines, aligned, predictor)
    return lines


def predict_video(
    path: Path | str,
    predictor: Predictor,
    *,
    every_k: int = 5,
    detector: FaceDetector | None = None,
    detector_config: DetectorConfig | None = None,
    min_sharpness: int | None = None,
) -> list[dict]:
    """A line per scored frame (0, k, 2k, ...; its best face), then one summary line
    (`summary: true`, `frame: null`) with the mean score of the ok frames.
    `min_sharpness` None: the model's default gate (`Predictor.min_sharpness`)."""
    min_sharpness = _gate(predictor, min_sharpness)
    if every_k < 1:
        raise ValueError(f"every_k must be >= 1, got {every_k}")
    path = Path(path)
    config = detector_config or DetectorConfig()
    if not path.is_file():
        return [_line(path, predictor, frame=None, summary=True, status="unreadable", reason="no such file")]
    found = _detector(detector, config)
    reader = FrameReader(path, stride=every_k)
    lines: list[dict] = []
    pending: list[tuple[dict, np.ndarray]] = []

    def flush() -> None:
        if pending:
            _score_into([p[0] for p in pending], [p[1] for p in pending], predictor)
            pending.clear()

    try:
        for index, rgb in reader:
            faces = find_faces(rgb, found, config)
            if not faces:
                lines.append(_line(path, predictor, frame=index, status="no_face", reason="no face found in the frame"))
                continue
            values, aligned = _face_values(rgb, faces[0], min_sharpness)
            lines.append(_line(path, predictor, frame=index, **values))
            pending.append((lines[-1], aligned))
            if len(pending) >= SCORE_BATCH:
                flush()
        flush()
    except VideoDecodeError as error:
        return [_line(path, predictor, frame=None, summary=True, status="unreadable", reason=str(error))]
    return lines + [
        _video_summary(
            path, predictor, lines, frames_read=reader.frames_seen, every_k=every_k, min_sharpness=min_sharpness
        )
    ]


def _video_summary(
    path: Path, predictor: Predictor, lines: list[dict], *, frames_read: int, every_k: int, min_sharpness: int
) -> dict:
    counts = {s: sum(1 for line in lines if line["status"] == s) for s in ("ok", "no_face", "too_blurry")}
    summary = {
        "summary": True,
        "frame": None,
        "frames_read": frames_read,
        "every_k": every_k,
        "frames_scored": len(lines),
        "frames_ok": counts["ok"],
        "frames_no_face": counts["no_face"],
        "frames_too_blurry": counts["too_blurry"],
    }
    if not lines:
        return _line(
            path,
            predictor,
            **summary,
            status="unreadable",
            frames_in_mean=0,
            reason="no frame decodes (empty, truncated or not a video)",
        )
    # the decision uses the frames that passed the gate; with none, the blurry frames' mean is reported only
    status = "ok" if counts["ok"] else ("too_blurry" if counts["too_blurry"] else "no_face")
    used = [line["score"] for line in lines if line["status"] == status] if status != "no_face" else []
    score = float(np.mean(used)) if used else None
    reason = {
        "ok": None,
        "too_blurry": f"all {counts['too_blurry']} frames with a face have a sharpness below {min_sharpness} "
        "(--min-sharpness): too blurry, retake",
        "no_face": f"no face in any of the {len(lines)} scored frames",
    }[status]
    return _line(
        path,
        predictor,
        **summary,
        frames_in_mean=len(used),
        status=status,
        reason=reason,
        score=score,
        threshold=predictor.info.threshold_for(video=True),
        decision=predictor.decide(score, video=True) if status == "ok" else None,
    )


OUTCOMES = (Label.LIVE, Label.SPOOF, "too_blurry", "no_face", "unreadable")


def input_outcome(lines: list[dict]) -> str:
    """What one input came to: its decision (`live`/`spoof`), else `too_blurry`, `no_face` or
    `unreadable` (a failed file counts as unreadable). A photo's is its best face's (the
    first line), a video's its summary line's."""
    if not lines:
        return "unreadable"
    line = next((line for line in lines if line.get("summary")), lines[0])
    if line.get("decision") in (Label.LIVE, Label.SPOOF):
        return line["decision"]
    status = line.get("status")
    return status if status in ("too_blurry", "no_face") else "unreadable"


def media_kind(path: Path) -> str:
    """`video` for the video suffixes, else `image` (an explicit file is tried as an image)."""
    return "video" if path.suffix.lower() in VIDEO_SUFFIXES else "image"


def expand_paths(paths: Sequence[Path | str]) -> list[Path]:
    """Files as given; folders walked (sorted) for image and video suffixes. A path that
    does not exist is kept, so it becomes an `unreadable` line rather than vanishing."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES
            )
            if not found:
                log.warning("folder %s holds no %s file", path, "/".join(IMAGE_SUFFIXES + VIDEO_SUFFIXES))
            out.extend(found)
        else:
            out.append(path)
    return out
