"""bench/profile_ingest.py on a tiny input: one 10-frame 640x480 video, every stage timed, the JSON readable,
and ingest's functions back as they were afterwards (the profile only wraps them while it runs); once with
the default path (the cascade on guard frames, ONet alone between) and once with the full cascade on every frame."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import profile_ingest  # noqa: E402

ONET_STAGES = ("onet_region", "onet_patch", "onet_net", "onet_other")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """One working folder for both tests: the sample tree is generated once and reused."""
    return tmp_path_factory.mktemp("profile-work")


def _wrapped_names():
    """(owner, name) of everything the profile wraps in ingest and its locator."""
    import etl.faces.locate as locate_module
    import etl.faces.mtcnn_onnx as onnx_module
    import etl.faces.onet_refine as refine_module
    import etl.faces.track as track_module
    import etl.ingest.video as video_module

    return [
        (video_module, "FrameReader"),
        (video_module, "read_ahead"),
        (video_module, "encode_image"),
        (video_module, "align_face"),
        (video_module._FrameRows, "table"),
        (locate_module, "resample_region"),
        (locate_module, "cv2"),
        (track_module, "locate_faces"),
        (track_module.VideoFaceLocator, "locate"),
        (refine_module.OnetRefiner, "refine"),
        (refine_module, "resample_region"),
        (refine_module, "onet_patch"),
        (onnx_module.OnnxONet, "__call__"),
    ]


def _profile(tmp_path, work: Path, *options: str) -> tuple[dict, int]:
    """The case of one profile run on one 10-frame 640x480 video; ingest's functions checked back afterwards."""
    before = [getattr(owner, name) for owner, name in _wrapped_names()]
    out = tmp_path / "profile.json"

    code = profile_ingest.main(
        ["--cases", "640x480", "--videos", "1", "--frames", "10", "--repeats", "1", "--work", str(work),
         "--json", str(out), *options]
    )  # fmt: skip

    after = [getattr(owner, name) for owner, name in _wrapped_names()]
    assert all(a is b for a, b in zip(after, before)), [
        f"{getattr(owner, '__name__', owner)}.{name}"
        for (owner, name), a, b in zip(_wrapped_names(), after, before)
        if a is not b
    ]
    results = json.loads(out.read_text())
    assert results["bench"] == "profile_ingest"
    (case,) = results["cases"]
    return case, code


def _check_common(case: dict) -> dict:
    assert case["case"] == "640x480"
    assert case["frames"] == 10
    assert len(case["videos"]) == 1
    stages = {s["stage"]: s for s in case["stages"]}
    assert list(stages) == [key for key, _ in profile_ingest.STAGES]
    for stage in stages.values():
        assert stage["ms_per_frame"] >= 0.0, stage
        assert 0.0 <= stage["share"] <= 1.0, stage
    # what every frame of a clean sample video goes through took time (frame 0 always runs the cascade)
    for key in ("decode", "region", "roi_pnet", "roi_rnet", "roi_onet", "align", "sharpness", "encode_aligned"):
        assert stages[key]["ms_per_frame"] > 0.0, key
    for key in ("arrow", "parquet", "commit"):
        assert stages[key]["ms_per_frame"] > 0.0, key
    assert 0.0 < stages["roi_pnet"]["net_ms_per_frame"] <= stages["roi_pnet"]["ms_per_frame"]
    # the stages add up to the instrumented run (other is its remainder)
    total = sum(s["ms_per_frame"] for s in case["stages"])
    assert abs(total - case["instrumented_ms_per_frame"]) < 1e-6 * max(1.0, total)
    assert case["end_to_end_frames_per_s"] > 0.0 and case["stages_frames_per_s"] > 0.0
    return stages


def test_profile_times_every_stage_and_writes_json(tmp_path, work, capsys):
    case, code = _profile(tmp_path, work)

    assert code == 0
    assert case["cascade_every"] == profile_ingest.DetectorConfig().cascade_every == 30
    stages = _check_common(case)
    # frame 0 is a guard (the cascade); the frames after it go to ONet alone first
    for key in ("onet_region", "onet_patch", "onet_net"):
        assert stages[key]["ms_per_frame"] > 0.0, key
    assert 1 <= case["frames_onet_tried"] <= 9
    assert 1 <= case["frames_onet_accepted"] <= min(9, case["frames_onet_tried"])
    assert 1 <= case["frames_region_pass"] <= 10

    printed = capsys.readouterr().out
    assert "640x480" in printed and "detect region: PNet pyramid" in printed and "end to end" in printed
    assert "cascade every 30 frames, ONet alone between" in printed and "ONet alone: net (onnxruntime)" in printed


def test_profile_full_cascade_on_every_frame(tmp_path, work, capsys):
    case, code = _profile(tmp_path, work, "--cascade-every", "1")

    assert code == 0
    assert case["cascade_every"] == 1
    stages = _check_common(case)
    for key in ONET_STAGES:
        assert stages[key]["ms_per_frame"] == 0.0, key
    assert case["frames_onet_tried"] == case["frames_onet_accepted"] == 0
    assert case["frames_region_pass"] == 10

    printed = capsys.readouterr().out
    assert "full cascade on every frame" in printed
