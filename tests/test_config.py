"""DetectorConfig / IngestConfig: the notes' defaults, validation, processing_hash; TrainConfig's P1 option."""

import dataclasses

import pytest

from etl.config import CROP_FORMATS, DetectorConfig, IngestConfig


def test_detector_defaults_are_the_notes_settings():
    config = DetectorConfig()
    assert config.backend == "mtcnn"
    assert config.stage_thresholds == (0.6, 0.7, 0.7)
    assert config.min_face_size == 40
    assert config.accept_score == 0.8
    assert config.roi_margin == 0.35
    assert config.roi_size == 160
    assert config.full_frame_max_side == 960
    assert config.batch_size == 32
    assert config.threads == 1


def test_ingest_defaults():
    config = IngestConfig()
    assert config.detector == DetectorConfig()
    assert config.crops == "none"
    assert CROP_FORMATS == ("none", "jpeg", "png")
    assert config.frame_stride == 1
    assert config.workers == 2
    assert config.gpus_per_worker == 0.0
    assert config.full is False
    assert config.commit_every == 4
    assert config.max_task_retries == 3


def test_configs_are_frozen_and_hashable():
    config = DetectorConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.min_face_size = 20  # type: ignore[misc]
    assert hash(config) == hash(DetectorConfig())
    assert {config: 1}[DetectorConfig()] == 1


def test_valid_edge_values_are_accepted():
    DetectorConfig(
        backend="insightface:/models/buffalo_l",
        stage_thresholds=(0.01, 0.5, 0.99),
        min_face_size=12,
        accept_score=0.0,
        roi_margin=0.0,
        roi_size=48,
        full_frame_max_side=64,
        batch_size=1,
        threads=1,
    )
    DetectorConfig(accept_score=1.0, roi_margin=2.0, roi_size=640)
    IngestConfig(crops="png", frame_stride=5, workers=1, gpus_per_worker=8.0, commit_every=1, max_task_retries=0)
    IngestConfig(crops="jpeg")


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [
        ({"backend": "dlib"}, "'dlib'"),
        ({"backend": "insightface"}, "'insightface'"),
        ({"stage_thresholds": (0.6, 0.7)}, "(0.6, 0.7)"),
        ({"stage_thresholds": (0.6, 0.7, 0.7, 0.7)}, "(0.6, 0.7, 0.7, 0.7)"),
        ({"stage_thresholds": (0.0, 0.7, 0.7)}, "(0.0, 0.7, 0.7)"),
        ({"stage_thresholds": (0.6, 0.7, 1.0)}, "(0.6, 0.7, 1.0)"),
        ({"stage_thresholds": (0.6, -0.2, 0.7)}, "(0.6, -0.2, 0.7)"),
        ({"min_face_size": 11}, "11"),
        ({"min_face_size": 0}, "0"),
        ({"accept_score": 1.5}, "1.5"),
        ({"accept_score": -0.1}, "-0.1"),
        ({"roi_margin": 2.5}, "2.5"),
        ({"roi_margin": -0.25}, "-0.25"),
        ({"roi_size": 47}, "47"),
        ({"roi_size": 641}, "641"),
        ({"full_frame_max_side": 63}, "63"),
        ({"batch_size": 0}, "0"),
        ({"threads": 0}, "0"),
    ],
)
def test_invalid_detector_values(kwargs, shown):
    with pytest.raises(ValueError) as info:
        DetectorConfig(**kwargs)
    message = str(info.value)
    assert shown in message
    field = next(iter(kwargs))
    assert field in message


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [
        ({"crops": "gif"}, "'gif'"),
        ({"crops": "JPEG"}, "'JPEG'"),
        ({"frame_stride": 0}, "0"),
        ({"workers": 0}, "0"),
        ({"gpus_per_worker": 8.5}, "8.5"),
        ({"gpus_per_worker": -1.0}, "-1.0"),
        ({"commit_every": 0}, "0"),
        ({"max_task_retries": -1}, "-1"),
    ],
)
def test_invalid_ingest_values(kwargs, shown):
    with pytest.raises(ValueError) as info:
        IngestConfig(**kwargs)
    message = str(info.value)
    assert shown in message
    assert next(iter(kwargs)) in message


def test_crops_message_lists_the_allowed_values():
    with pytest.raises(ValueError) as info:
        IngestConfig(crops="webp")
    assert str(info.value) == "crops 'webp' is not one of none, jpeg, png"


def test_nan_values_are_rejected():
    nan = float("nan")
    with pytest.raises(ValueError, match="nan"):
        DetectorConfig(accept_score=nan)
    with pytest.raises(ValueError, match="nan"):
        DetectorConfig(stage_thresholds=(0.6, nan, 0.7))


BASE = IngestConfig().processing_hash()


def test_processing_hash_is_deterministic():
    assert IngestConfig().processing_hash() == BASE
    assert len(BASE) == 16
    int(BASE, 16)


@pytest.mark.parametrize(
    "config",
    [
        IngestConfig(detector=DetectorConfig(stage_thresholds=(0.6, 0.7, 0.8))),
        IngestConfig(detector=DetectorConfig(stage_thresholds=(0.5, 0.7, 0.7))),
        IngestConfig(detector=DetectorConfig(min_face_size=20)),
        IngestConfig(detector=DetectorConfig(accept_score=0.9)),
        IngestConfig(detector=DetectorConfig(roi_margin=0.5)),
        IngestConfig(detector=DetectorConfig(roi_size=128)),
        IngestConfig(detector=DetectorConfig(full_frame_max_side=1280)),
        IngestConfig(detector=DetectorConfig(backend="insightface:/m")),
        IngestConfig(crops="jpeg"),
        IngestConfig(crops="png"),
        IngestConfig(frame_stride=2),
    ],
    ids=["onet", "pnet", "min_face", "accept", "margin", "roi_size", "max_side", "backend", "jpeg", "png", "stride"],
)
def test_processing_hash_changes_with_content_settings(config):
    assert config.processing_hash() != BASE


def test_processing_hash_distinguishes_settings_from_each_other():
    hashes = {
        IngestConfig(crops="jpeg").processing_hash(),
        IngestConfig(crops="png").processing_hash(),
        IngestConfig(frame_stride=2).processing_hash(),
        IngestConfig(frame_stride=3).processing_hash(),
        BASE,
    }
    assert len(hashes) == 5


@pytest.mark.parametrize(
    "config",
    [
        IngestConfig(detector=DetectorConfig(batch_size=1)),
        IngestConfig(detector=DetectorConfig(batch_size=256)),
        IngestConfig(detector=DetectorConfig(threads=8)),
        IngestConfig(workers=16),
        IngestConfig(gpus_per_worker=0.5),
        IngestConfig(full=True),
        IngestConfig(commit_every=64),
        IngestConfig(max_task_retries=0),
        IngestConfig(detector=DetectorConfig(batch_size=7, threads=3), workers=5, commit_every=2),
    ],
    ids=["batch1", "batch256", "threads", "workers", "gpus", "full", "commit_every", "retries", "all"],
)
def test_processing_hash_ignores_execution_settings(config):
    assert config.processing_hash() == BASE


def test_processing_hash_does_not_mutate_config():
    config = IngestConfig(detector=DetectorConfig(batch_size=5, threads=2))
    config.processing_hash()
    assert config.detector.batch_size == 5
    assert config.detector.threads == 2
    assert config.processing_hash() == config.processing_hash()


def test_train_config_p1_validation_frames_is_checked_early():
    from etl.config import P1_VALIDATION_FRAMES, TrainConfig
    from etl.errors import UsageError

    assert TrainConfig().p1_validation_frames == "subset" and P1_VALIDATION_FRAMES == ("subset", "all")
    assert TrainConfig(p1_validation_frames="all").p1_validation_frames == "all"
    with pytest.raises(UsageError, match="p1_validation_frames 'full' is not one of subset, all"):
        TrainConfig(p1_validation_frames="full")
