"""Typed job configuration that validates in its constructor and names allowed values."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

from etl.errors import require
from schemas.vocabulary import CropFormat, LrSchedule, P1ValidationFrames, values

CROP_FORMATS = values(CropFormat)


@dataclass(frozen=True)
class DetectorConfig:
    """Face detector settings. Defaults are the notes' MTCNN settings.

    backend: `mtcnn` (the `mtcnn` package, weights shipped inside it) or
    `insightface:DIR` (an SCRFD/RetinaFace `.onnx` from a folder you provide).
    """

    backend: str = "mtcnn"
    stage_thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    min_face_size: int = 40  # frame pixels; smaller detections are ignored
    accept_score: float = 0.8  # best face below this -> det_status low_score
    roi_margin: float = 0.35  # .face box grown by this share of its size on each side
    roi_size: int = 160  # the search region is resampled to roi_size x roi_size pixels
    full_frame_max_side: int = 960  # full-frame fallback downsamples larger frames to this
    batch_size: int = 32  # regions per detector call
    threads: int = 1  # TensorFlow/ONNX threads per worker (one Ray CPU each)
    # mtcnn only (etl/faces/track.py): the full cascade on every cascade_every-th frame of a video and
    # wherever ONet alone is unsure; on the other frames ONet alone on the previous frame's face or
    # on the .face box. 1: the full cascade on every frame.
    cascade_every: int = 30
    onet_min_iou: float = 0.5  # ONet's refined box must overlap the box it was given at least this much

    def __post_init__(self) -> None:
        # normalise numbers so equal settings hash (and cache) equally: 1 and 1.0, list and tuple
        try:
            object.__setattr__(self, "stage_thresholds", tuple(float(t) for t in self.stage_thresholds))
            object.__setattr__(self, "accept_score", float(self.accept_score))
            object.__setattr__(self, "roi_margin", float(self.roi_margin))
            object.__setattr__(self, "onet_min_iou", float(self.onet_min_iou))
        except (TypeError, ValueError) as error:
            raise ValueError(f"detector thresholds must be numbers: {error}") from error
        require(
            self.backend == "mtcnn" or self.backend.startswith("insightface:"),
            f"detector backend {self.backend!r} is not one of: 'mtcnn', 'insightface:DIR'",
        )
        require(
            len(self.stage_thresholds) == 3 and all(0.0 < t < 1.0 for t in self.stage_thresholds),
            f"stage_thresholds must be three numbers in (0, 1), got {self.stage_thresholds!r}",
        )
        require(
            self.min_face_size >= 12, f"min_face_size must be >= 12 pixels (MTCNN's input), got {self.min_face_size}"
        )
        require(0.0 <= self.accept_score <= 1.0, f"accept_score must be in [0, 1], got {self.accept_score}")
        require(0.0 <= self.roi_margin <= 2.0, f"roi_margin must be in [0, 2], got {self.roi_margin}")
        require(48 <= self.roi_size <= 640, f"roi_size must be in [48, 640], got {self.roi_size}")
        require(self.full_frame_max_side >= 64, f"full_frame_max_side must be >= 64, got {self.full_frame_max_side}")
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        require(self.threads >= 1, f"threads must be >= 1, got {self.threads}")
        require(self.cascade_every >= 1, f"cascade_every must be >= 1, got {self.cascade_every}")
        require(0.0 < self.onet_min_iou <= 1.0, f"onet_min_iou must be in (0, 1], got {self.onet_min_iou}")

    @property
    def onet_tracking(self) -> bool:
        """Whether frames between cascades may be found by ONet alone (MTCNN only)."""
        return self.backend == "mtcnn" and self.cascade_every > 1

    def content_settings(self) -> dict:
        """The settings that change what a frame's detection holds (for processing hashes).

        Without ONet tracking, the hash is the one from before it existed, so lakes made with
        the full cascade on every frame are not reprocessed for a setting they did not use."""
        settings = asdict(self)
        for name in ("batch_size", "threads") + (() if self.onet_tracking else ("cascade_every", "onet_min_iou")):
            settings.pop(name)
        return settings


@dataclass(frozen=True)
class IngestConfig:
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    crops: str = "none"  # also store the .face-box crop: none | jpeg | png
    frame_stride: int = 1
    workers: int = 2
    gpus_per_worker: float = 0.0
    full: bool = False  # reprocess every video, even unchanged ones
    commit_every: int = 4  # videos per Delta commit
    max_task_retries: int = 3  # Ray retries of a video whose worker died
    task_memory_mb: int = (
        4096  # how much one video may grow its worker's memory (0: no limit); etl/ingest/memory_guard.py
    )

    def __post_init__(self) -> None:
        require(self.crops in CROP_FORMATS, f"crops {self.crops!r} is not one of {', '.join(CROP_FORMATS)}")
        require(self.frame_stride >= 1, f"frame_stride must be >= 1, got {self.frame_stride}")
        require(self.workers >= 1, f"workers must be >= 1, got {self.workers}")
        require(0.0 <= self.gpus_per_worker <= 8.0, f"gpus_per_worker must be in [0, 8], got {self.gpus_per_worker}")
        require(self.commit_every >= 1, f"commit_every must be >= 1, got {self.commit_every}")
        require(self.max_task_retries >= 0, f"max_task_retries must be >= 0, got {self.max_task_retries}")
        require(self.task_memory_mb >= 0, f"task_memory_mb must be >= 0 (0: no limit), got {self.task_memory_mb}")

    def processing_hash(self) -> str:
        """A hash of every setting that changes what a video's rows contain."""
        settings = {
            "detector": self.detector.content_settings(),
            "crops": self.crops,
            "frame_stride": self.frame_stride,
        }
        return hashlib.blake2b(json.dumps(settings, sort_keys=True).encode(), digest_size=8).hexdigest()


# The notes re-ran "another detector" on the no-face bucket. Ours by default: MTCNN again,
# more permissive (lower stage thresholds, smaller faces, a larger working image).
RETRY_DETECTOR = DetectorConfig(
    stage_thresholds=(0.5, 0.6, 0.6), min_face_size=20, accept_score=0.7, full_frame_max_side=1600
)


@dataclass(frozen=True)
class RegisterConfig:
    """`facelake register`: detection settings of both passes and how work is spread."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    retry_detector: DetectorConfig | None = RETRY_DETECTOR  # None: no second pass
    workers: int = 2
    photos_per_task: int = 16
    full: bool = False  # reprocess every photo, even unchanged ones

    def __post_init__(self) -> None:
        require(self.workers >= 1, f"workers must be >= 1, got {self.workers}")
        require(self.photos_per_task >= 1, f"photos_per_task must be >= 1, got {self.photos_per_task}")

    def processing_hash(self) -> str:
        # photos are single images: ONet tracking never applies, whatever the setting
        settings = {
            "detector": replace(self.detector, cascade_every=1).content_settings(),
            "retry": replace(self.retry_detector, cascade_every=1).content_settings() if self.retry_detector else None,
        }
        return hashlib.blake2b(json.dumps(settings, sort_keys=True).encode(), digest_size=8).hexdigest()


LR_SCHEDULES = values(LrSchedule)
P1_VALIDATION_FRAMES = values(P1ValidationFrames)


@dataclass(frozen=True)
class TrainConfig:
    """`facelake train`: the notes' classifier settings by default (48 px, batch 160, MobileNet)."""

    protocols: str = "p1"  # p1 | p2:K | p3:K | p2 | p3 | all (comma-separated)
    epochs: int = 10
    batch_size: int = 160
    input_size: int = 48
    backbone: str = "MobileNet"
    learning_rate: float = 1e-3
    lr_schedule: str = "plateau"
    warmup_epochs: int = 1
    patience: int = 10  # EarlyStopping on val_loss
    # softened targets keep a few confident mistakes on the validation subjects from
    # dominating val_loss, by which checkpoints are chosen
    label_smoothing: float = 0.1
    workers: int = 2
    use_gpu: bool = False
    validation_fraction: float = 0.2
    # P1's validation subjects: their first 60 frames as training uses (subset) or every frame (all)
    p1_validation_frames: str = P1ValidationFrames.SUBSET.value
    min_sharpness: int | None = None  # keep faces whose Android sharpness count >= this
    seed: int = 0
    resume: bool = False

    def __post_init__(self) -> None:
        require(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        require(32 <= self.input_size <= 512, f"input_size must be in [32, 512], got {self.input_size}")
        require(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        require(
            self.lr_schedule in LR_SCHEDULES,
            f"lr_schedule {self.lr_schedule!r} is not one of {', '.join(LR_SCHEDULES)}",
        )
        require(
            0 <= self.warmup_epochs < self.epochs or self.lr_schedule != LrSchedule.COSINE,
            f"warmup_epochs must be in [0, epochs), got {self.warmup_epochs}",
        )
        require(0.0 <= self.label_smoothing < 0.5, f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        require(self.patience >= 1, f"patience must be >= 1, got {self.patience}")
        require(self.workers >= 1, f"workers must be >= 1, got {self.workers}")
        require(self.batch_size >= self.workers, f"batch_size {self.batch_size} is smaller than workers {self.workers}")
        require(
            0.0 < self.validation_fraction < 1.0,
            f"validation_fraction must be in (0, 1), got {self.validation_fraction}",
        )
        require(
            self.p1_validation_frames in P1_VALIDATION_FRAMES,
            f"p1_validation_frames {self.p1_validation_frames!r} is not one of {', '.join(P1_VALIDATION_FRAMES)}",
        )


# delta-rs's default vacuum retention (7 days), and the least it accepts unless told to skip its check
SAFE_RETENTION_HOURS = 168


@dataclass(frozen=True)
class MaintainConfig:
    """`facelake maintain`: compaction target, vacuum retention, and the two overrides.

    `force` allows a retention below SAFE_RETENTION_HOURS and below the age of the oldest
    `frames` version a train run read (files those versions need may then be deleted).
    `dry_run` compacts nothing and lists what vacuum would delete.
    """

    retention_hours: int = SAFE_RETENTION_HOURS
    target_size_mb: int | None = None  # None: the table's delta.targetFileSize, else delta-rs's 100 MB
    force: bool = False
    dry_run: bool = False
    tables: tuple[str, ...] = ()  # empty: every table of the lake

    def __post_init__(self) -> None:
        require(
            isinstance(self.retention_hours, int) and self.retention_hours >= 0,
            f"retention_hours must be a whole number >= 0, got {self.retention_hours!r}",
        )
        require(
            self.force or self.retention_hours >= SAFE_RETENTION_HOURS,
            f"retention_hours {self.retention_hours} is below the safe minimum of {SAFE_RETENTION_HOURS} "
            f"(7 days): readers of recent older versions could lose files; pass {{option:force}} to vacuum with less",
        )
        require(
            self.target_size_mb is None or 1 <= self.target_size_mb <= 10240,
            f"target_size_mb must be in [1, 10240] MB, got {self.target_size_mb}",
        )
        object.__setattr__(self, "tables", tuple(self.tables))

    @property
    def target_size_bytes(self) -> int | None:
        return None if self.target_size_mb is None else self.target_size_mb * 1024 * 1024
