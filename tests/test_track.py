"""ONet alone between cascades (etl/faces/track.py): its fallbacks to the full cascade, on a real face
rendered into videos that go wrong on purpose (a face cut out of the frames, a `.face` box that lies)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from etl.config import DetectorConfig, IngestConfig
from etl.faces.detect import cached_detector
from etl.faces.track import FaceBoxMapping, box_iou
from etl.ingest.video import process_video
from etl.sources.siw_tree import scan_source
from etl.synthetic.face_photos import load_face_photos
from etl.synthetic.siw_tree import write_video
from etl.synthetic.videos import render_video

FRAMES = 60
CUT = range(30, 40)  # frames whose face is painted over (the .face boxes still say it is there)
LIE = range(20, 25)  # frames whose .face box points at an empty corner
CORNER = (5, 5, 125, 145)
TRACKING = IngestConfig()  # the default: the cascade every 30th frame, ONet alone between
CASCADE = IngestConfig(detector=replace(DetectorConfig(), cascade_every=1))


@pytest.fixture(scope="module")
def rendered():
    """A live video of a shipped photo, 640x480, face about 130 px: frames and true face boxes."""
    photo = load_face_photos()[0]
    frames = list(render_video(photo, kind="live", n_frames=FRAMES, rng=np.random.default_rng(3)))
    assert all(f.face_box is not None for f in frames)
    return [f.image for f in frames], [list(f.face_box) for f in frames]


def _tree(root: Path, stem: str, images: list[np.ndarray], boxes: list) -> object:
    folder = root / "Train" / "live" / "001"
    folder.mkdir(parents=True, exist_ok=True)
    write_video(folder / f"{stem}.mov", images, fps=30, frame_size=(640, 480))
    (folder / f"{stem}.face").write_text("".join(" ".join(map(str, b)) + "\n" for b in boxes), encoding="ascii")
    (video,) = [v for v in scan_source(str(root)).videos if v.rel_path.endswith(f"{stem}.mov")]
    return video


def _frames(video, config: IngestConfig) -> list[dict]:
    result = process_video(video, config, cached_detector(config.detector), run_id="test")
    return result.frames.select(["frame_index", "det_status", "det_source", "det_score", "landmarks"]).to_pylist()


@pytest.fixture(scope="module")
def cut_video(rendered, tmp_path_factory):
    images, boxes = rendered
    images = [image.copy() for image in images]
    for i in CUT:
        x1, y1, x2, y2 = boxes[i]
        grow = (x2 - x1) // 2
        images[i][max(0, y1 - grow) : y2 + grow, max(0, x1 - grow) : x2 + grow] = (118, 112, 105)
    return _tree(tmp_path_factory.mktemp("cut"), "001-1-1-1-1", images, boxes)


@pytest.fixture(scope="module")
def lying_video(rendered, tmp_path_factory):
    images, boxes = rendered
    boxes = [list(CORNER) if i in LIE else b for i, b in enumerate(boxes)]
    return _tree(tmp_path_factory.mktemp("lie"), "001-1-1-1-2", images, boxes)


def test_guard_frames_run_the_cascade_and_the_rest_onet_alone(lying_video):
    frames = _frames(lying_video, TRACKING)
    assert [f["frame_index"] for f in frames] == list(range(FRAMES))
    for f in frames:
        if f["frame_index"] % 30 == 0:
            assert f["det_source"] == "roi", f
    followed = [f for f in frames if f["frame_index"] % 30 and f["frame_index"] not in LIE]
    assert {f["det_source"] for f in followed} <= {"onet_track", "onet_face_box"}
    assert all(f["det_status"] == "ok" for f in frames)


def test_a_face_that_is_gone_sends_the_frame_to_the_cascade_which_finds_none(cut_video):
    frames = {f["frame_index"]: f for f in _frames(cut_video, TRACKING)}
    for i in CUT:
        # ONet on the previous face (frame 30) or on the mapped .face box (31..39) scores the paint low;
        # the cascade then searches the region and the whole frame, and finds nothing
        assert frames[i]["det_status"] == "no_face" and frames[i]["det_source"] is None, frames[i]
    assert frames[29]["det_source"] == "onet_track" and frames[29]["det_status"] == "ok"
    # the face is back: no previous face to follow, so ONet alone on the .face box mapped by the last detection
    assert frames[CUT.stop]["det_source"] == "onet_face_box" and frames[CUT.stop]["det_status"] == "ok"
    assert frames[CUT.stop + 1]["det_source"] == "onet_track"
    # the full cascade on every frame says the same about which frames have a face
    cascade = {f["frame_index"]: f for f in _frames(cut_video, CASCADE)}
    assert {i for i, f in cascade.items() if f["det_status"] == "ok"} == {
        i for i, f in frames.items() if f["det_status"] == "ok"
    }


def test_a_lying_face_box_sends_the_frame_to_the_cascade_which_searches_the_whole_frame(lying_video):
    frames = {f["frame_index"]: f for f in _frames(lying_video, TRACKING)}
    cascade = {f["frame_index"]: f for f in _frames(lying_video, CASCADE)}
    for i in LIE:
        # ONet's face (where the previous frame's was) is not where the .face box says: the cascade runs,
        # finds nothing in the lying region, and finds the face in the whole frame, exactly as without ONet
        assert frames[i]["det_source"] == "full_frame" and frames[i]["det_status"] == "ok", frames[i]
        assert cascade[i]["det_source"] == "full_frame"
        np.testing.assert_allclose(frames[i]["landmarks"], cascade[i]["landmarks"], atol=1e-3)
    assert frames[LIE.stop]["det_source"] == "onet_face_box"


def test_no_onet_where_the_setting_or_the_detector_says_so(cut_video):
    frames = _frames(cut_video, CASCADE)
    assert {f["det_source"] for f in frames} == {"roi", None}
    # ONet alone refines what MTCNN's cascade found: with another detector every frame runs that detector
    assert DetectorConfig().onet_tracking and not DetectorConfig(backend="insightface:/nowhere").onet_tracking


def test_processing_hash_is_the_old_one_without_onet_tracking():
    # lakes ingested with the cascade on every frame keep their hash (no reprocessing for a setting they lacked);
    # the ONet settings count only when they are used
    old = IngestConfig(detector=DetectorConfig(cascade_every=1))
    assert (
        old.processing_hash()
        == IngestConfig(detector=DetectorConfig(cascade_every=1, onet_min_iou=0.9)).processing_hash()
    )
    assert old.processing_hash() != TRACKING.processing_hash()
    assert TRACKING.processing_hash() != IngestConfig(detector=DetectorConfig(cascade_every=10)).processing_hash()
    with pytest.raises(ValueError, match="cascade_every"):
        DetectorConfig(cascade_every=0)
    with pytest.raises(ValueError, match="onet_min_iou"):
        DetectorConfig(onet_min_iou=0.0)


def test_box_iou_and_face_box_mapping():
    assert box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert box_iou([0, 0, 10, 10], [10, 10, 20, 20]) == 0.0
    # the detector's box 10 % inside a .face box of side 100 maps the same way onto a moved, larger .face box
    mapping = FaceBoxMapping([100, 100, 200, 200], [110, 105, 190, 200])
    np.testing.assert_allclose(mapping.apply([0, 0, 200, 200]), [20, 10, 180, 200])
