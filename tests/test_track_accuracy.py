"""The accuracy guard of ONet alone between cascades (etl/faces/track.py), on the session's sample: real
faces (the photos shipped in insightface and scikit-image) rendered into live, print and replay videos,
whose generator knows each frame's true landmarks (the photo's, carried by the frame's transform).

Every video goes through `process_video` twice: with the full cascade on every frame (`cascade_every=1`,
ingest before ONet tracking) and with the default. Distances are on the 112x112 ArcFace template (the
aligned face ingest stores), mean over the five landmarks.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from etl.config import DetectorConfig, IngestConfig
from etl.faces.detect import cached_detector
from etl.faces.encode import decode_image
from etl.ingest.video import process_video
from etl.sources.siw_tree import scan_source

COLUMNS = ["video_id", "frame_index", "det_status", "det_source", "det_score", "landmarks", "aligned"]


def _template_distance(reference: np.ndarray, other: np.ndarray) -> float:
    """Mean distance of `other`'s landmarks from `reference`'s, in pixels of the aligned face made from `reference`."""
    from insightface.utils.face_align import arcface_dst

    matrix, _ = cv2.estimateAffinePartial2D(
        reference.astype(np.float32), arcface_dst.astype(np.float32), method=cv2.LMEDS
    )
    return float(np.linalg.norm((other - reference) @ matrix[:, :2].T, axis=1).mean())


def _ingest(videos, config: IngestConfig) -> dict:
    detector = cached_detector(config.detector)
    rows = {}
    for video in videos:
        for row in process_video(video, config, detector, run_id="accuracy").frames.select(COLUMNS).to_pylist():
            rows[(video.rel_path, row["frame_index"])] = row
    return rows


@pytest.fixture(scope="module")
def paths(sample):
    videos = [v for v in scan_source(str(sample.root)).videos if v.processable]
    cascade = _ingest(videos, IngestConfig(detector=replace(DetectorConfig(), cascade_every=1)))
    tracking = _ingest(videos, IngestConfig())
    truth = {
        (v.path, i): (np.asarray(lm, dtype=np.float64) if lm is not None else None)
        for v in sample.manifest.videos
        for i, lm in enumerate(v.true_landmarks)
    }
    return cascade, tracking, truth


def _ok(row) -> bool:
    return row["det_status"] == "ok"


def test_onet_alone_ran_on_most_frames(paths):
    _, tracking, _ = paths
    sources = [row["det_source"] for row in tracking.values()]
    onet = sum(1 for s in sources if s in ("onet_track", "onet_face_box"))
    assert onet >= 0.85 * len(sources), {s: sources.count(s) for s in set(sources)}


def test_at_least_99_percent_of_the_cascades_ok_frames_stay_ok(paths):
    cascade, tracking, _ = paths
    ok = [key for key, row in cascade.items() if _ok(row)]
    kept = [key for key in ok if _ok(tracking[key])]
    assert len(ok) >= 300
    assert len(kept) >= 0.99 * len(ok), sorted(set(ok) - set(kept))


def test_no_ok_frame_where_the_face_has_left(paths, sample):
    _, tracking, truth = paths
    (leaving,) = sample.manifest.by_defect("face_leaves_frame")
    gone = [key for key, landmarks in truth.items() if key[0] == leaving.path and landmarks is None]
    assert len(gone) >= 3
    assert [key for key in gone if _ok(tracking[key])] == []
    # the frames before it left were followed by ONet alone, so the guard was put to the test
    assert any(tracking[(leaving.path, i)]["det_source"] == "onet_track" for i in range(1, gone[0][1]))


def test_landmarks_agree_with_the_cascade_where_the_cascade_is_right(paths):
    """The issue's guard: within 2 px (mean) of the cascade's landmarks. The cascade itself is not the truth:
    on tilted faces its landmarks jump by tens of pixels from frame to frame where ONet on the previous face
    does not (docs/ingest_profile.md shows one). So the 2 px hold where the cascade is within 2 px of the true
    landmarks, and over all frames ONet alone must be at least as close to the truth as the cascade."""
    cascade, tracking, truth = paths
    keys = [
        key
        for key, row in tracking.items()
        if row["det_source"] in ("onet_track", "onet_face_box") and _ok(cascade[key]) and truth.get(key) is not None
    ]
    assert len(keys) >= 250

    def landmarks(rows, key):
        return np.asarray(rows[key]["landmarks"], dtype=np.float64)

    cascade_error = np.array([_template_distance(truth[k], landmarks(cascade, k)) for k in keys])
    onet_error = np.array([_template_distance(truth[k], landmarks(tracking, k)) for k in keys])
    apart = np.array([_template_distance(landmarks(cascade, k), landmarks(tracking, k)) for k in keys])
    right = cascade_error <= 2.0
    assert right.sum() >= 0.5 * len(keys)
    assert apart[right].mean() <= 2.0, apart[right].mean()
    assert onet_error.mean() <= cascade_error.mean(), (onet_error.mean(), cascade_error.mean())
    assert np.median(apart) <= 2.0, np.median(apart)


def test_frames_the_cascade_found_are_as_before(paths):
    """Where the full cascade ran (guard frames, ONet fallbacks), the row is the one ingest made before ONet
    tracking: same status and source, the same landmarks up to TensorFlow's batch-size float noise, and the
    aligned face within one grey level."""
    cascade, tracking, _ = paths
    keys = [key for key, row in tracking.items() if row["det_source"] in ("roi", "full_frame")]
    assert len(keys) >= 13  # at least every video's first frame
    for key in keys:
        before, now = cascade[key], tracking[key]
        assert (now["det_status"], now["det_source"]) == (before["det_status"], before["det_source"]), key
        np.testing.assert_allclose(now["landmarks"], before["landmarks"], atol=1e-3)
        assert now["det_score"] == pytest.approx(before["det_score"], abs=1e-5)
        if now["aligned"] is not None:
            difference = np.abs(decode_image(now["aligned"]).astype(int) - decode_image(before["aligned"]).astype(int))
            assert difference.max() <= 1, key
    nothing = [key for key, row in tracking.items() if row["det_source"] is None]
    assert all(cascade[key]["det_status"] != "ok" for key in nothing)


def test_chunk_size_does_not_change_what_is_found(sample):
    """Frames are located a chunk (`batch_size`) at a time; what ONet follows crosses chunk borders the same way."""
    videos = [v for v in scan_source(str(sample.root)).videos if v.processable][:3]
    small = _ingest(videos, IngestConfig(detector=replace(DetectorConfig(), batch_size=7)))
    large = _ingest(videos, IngestConfig())
    assert small.keys() == large.keys()
    for key in large:
        assert small[key]["det_source"] == large[key]["det_source"], key
        if large[key]["landmarks"] is not None:
            np.testing.assert_allclose(small[key]["landmarks"], large[key]["landmarks"], atol=1e-3)
