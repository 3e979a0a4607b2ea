"""bench/profile_ingest.py on a tiny input: one 10-frame 640x480 video, every stage timed, the JSON readable,
and ingest's functions back as they were afterwards (the profile only wraps them while it runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import profile_ingest  # noqa: E402


def test_profile_times_every_stage_and_writes_json(tmp_path, capsys):
    import etl.faces.locate as locate_module
    import etl.ingest.video as video_module

    before = {name: getattr(video_module, name) for name in ("FrameReader", "locate_faces", "encode_image")}
    resample = locate_module._resample
    out = tmp_path / "profile.json"

    code = profile_ingest.main(
        ["--cases", "640x480", "--videos", "1", "--frames", "10", "--repeats", "1", "--work", str(tmp_path / "work"),
         "--json", str(out)]
    )  # fmt: skip

    assert code == 0
    results = json.loads(out.read_text())
    assert results["bench"] == "profile_ingest"
    (case,) = results["cases"]
    assert case["case"] == "640x480"
    assert case["frames"] == 10
    assert len(case["videos"]) == 1
    stages = {s["stage"]: s for s in case["stages"]}
    assert list(stages) == [key for key, _ in profile_ingest.STAGES]
    for stage in stages.values():
        assert stage["ms_per_frame"] >= 0.0, stage
        assert 0.0 <= stage["share"] <= 1.0, stage
    # what every frame of a clean sample video goes through took time
    for key in ("decode", "region", "roi_pnet", "roi_rnet", "roi_onet", "align", "sharpness", "encode_aligned"):
        assert stages[key]["ms_per_frame"] > 0.0, key
    for key in ("arrow", "parquet", "commit"):
        assert stages[key]["ms_per_frame"] > 0.0, key
    assert 0.0 < stages["roi_pnet"]["net_ms_per_frame"] <= stages["roi_pnet"]["ms_per_frame"]
    assert case["frames_region_pass"] == 10
    # the stages add up to the instrumented run (other is its remainder)
    total = sum(s["ms_per_frame"] for s in case["stages"])
    assert abs(total - case["instrumented_ms_per_frame"]) < 1e-6 * max(1.0, total)
    assert case["end_to_end_frames_per_s"] > 0.0 and case["stages_frames_per_s"] > 0.0

    printed = capsys.readouterr().out
    assert "640x480" in printed and "detect region: PNet pyramid" in printed and "end to end" in printed
    after = {name: getattr(video_module, name) for name in before}
    assert after == before and locate_module._resample is resample
