"""`facelake score` on a real trained model's lake: parts, incremental reruns, and predict's scores.

The trained fixture model (2 epochs) gives every face the same score, so comparing scores with
predict's would pass whatever face each score belonged to. Its folder is copied with the Keras
model replaced by one of the same architecture with BatchNorm statistics from the lake's faces
(`tests/varied_model.py`): metrics.json (train_id, parts, threshold) stays the trained model's,
and the scores differ from face to face.
"""

from __future__ import annotations

import json
import shutil

from etl.train.model import use_legacy_keras

use_legacy_keras()  # before anything imports TensorFlow

import numpy as np
import pyarrow.compute as pc
import pytest

from etl.faces.encode import decode_image
from etl.lake.lake import Lake
from etl.train.predict import Predictor, prepare_faces
from schemas import FRAMES, SCORES, TRAIN_RUNS
from schemas.vocabulary import DetStatus, ScorePart
from tests.conftest import run_job_cli
from tests.varied_model import with_face_statistics

TEST_ONLY = "split = 'test'"


@pytest.fixture(scope="module")
def scored(trained_model, tmp_path_factory):
    """A copy of the trained lake and a varied copy of its P1 model, scored twice: the test split, then all."""
    from etl.train.model import build_model

    base = tmp_path_factory.mktemp("score")
    lake_dir, model_dir = base / "lake", base / "P1"
    shutil.copytree(trained_model.lake, lake_dir)
    shutil.copytree(trained_model.model, model_dir)
    metrics = json.loads((model_dir / "metrics.json").read_text())
    lake = Lake(str(lake_dir))
    ok = lake.read(FRAMES, columns=["aligned"], filters=[("det_status", "=", DetStatus.OK)])
    faces = prepare_faces([decode_image(png) for png in ok.column("aligned").to_pylist()[::4]], metrics["input_size"])
    model = with_face_statistics(build_model(input_size=metrics["input_size"], seed=3), faces)
    (model_dir / "model.keras").unlink()
    model.save(model_dir / "model.keras")
    args = ("--lake", str(lake_dir), "--model", str(model_dir), "--workers", "2")
    first = run_job_cli("score", *args, "--where", TEST_ONLY)
    after_first = lake.read(SCORES)
    second = run_job_cli("score", *args)
    version = lake.version(SCORES)
    third = run_job_cli("score", *args)
    return {
        "lake": lake,
        "model": model_dir,
        "metrics": metrics,
        "after_first": after_first,
        "scores": lake.read(SCORES),
        "runs": [first, second, third],
        "version_before_third": version,
    }


def _ok_frames(lake: Lake):
    return lake.read(FRAMES, filters=[("det_status", "=", DetStatus.OK)])


def test_every_ok_face_is_scored_once_in_the_part_it_had_for_the_model(scored, trained_model):
    lake, scores, metrics = scored["lake"], scored["scores"], scored["metrics"]
    ok = _ok_frames(lake)
    keys = [f"{v}#{i}" for v, i in zip(ok.column("video_id").to_pylist(), ok.column("frame_index").to_pylist())]
    assert sorted(scores.column("face_key").to_pylist()) == sorted(keys)
    train_run = lake.read(TRAIN_RUNS).to_pylist()[0]
    assert set(scores.column("train_id").to_pylist()) == {metrics["train_id"]} == {train_run["train_id"]}
    counts = json.loads(train_run["counts_json"])
    parts = {e["values"]: e["counts"] for e in pc.value_counts(scores.column("part")).to_pylist()}
    for part in ("train", "validation", "test"):
        assert parts[part] == counts[part]["rows"], part
    assert parts.get(ScorePart.UNSEEN, 0) == len(keys) - sum(counts[p]["rows"] for p in ("train", "validation", "test"))
    # the parts follow the protocol: P1 tests every test-split face, validates on the validation subjects' faces
    rows = scores.to_pylist()
    assert {r["part"] for r in rows if r["split"] == "test"} == {"test"}
    validation_subjects = set(metrics["validation_subjects"])
    for row in rows:
        if row["part"] == ScorePart.VALIDATION:
            assert row["subject"] in validation_subjects and row["frame_index"] < 60
        if row["part"] == ScorePart.TRAIN:
            assert row["subject"] not in validation_subjects and row["frame_index"] < 60
    # the label columns are the frame's
    by_key = {
        f"{r['video_id']}#{r['frame_index']}": r
        for r in ok.select(
            [
                "video_id",
                "frame_index",
                "label",
                "attack_type",
                "subject",
                "sensor",
                "medium",
                "session",
                "split",
                "run_id",
            ]
        ).to_pylist()
    }
    for row in rows:
        frame = by_key[row["face_key"]]
        for column in ("label", "attack_type", "subject", "sensor", "medium", "session", "split"):
            assert row[column] == frame[column], column
        assert row["frames_run_id"] == frame["run_id"]
        assert row["protocol"] == "P1" and row["model_format"] == "keras"


def test_held_out_scores_equal_predicts_on_the_same_faces(scored):
    lake, scores, model = scored["lake"], scored["scores"], scored["model"]
    predictor = Predictor(model)
    ok = _ok_frames(lake)
    aligned = {
        f"{v}#{i}": png
        for v, i, png in zip(*(ok.column(c).to_pylist() for c in ("video_id", "frame_index", "aligned")))
    }
    held_out = [r for r in scores.to_pylist() if r["part"] in (ScorePart.TEST, ScorePart.UNSEEN)]
    assert len(held_out) > 100
    expected = predictor([decode_image(aligned[r["face_key"]]) for r in held_out])
    got = np.array([r["score"] for r in held_out], dtype=np.float32)
    assert np.std(got) > 1e-3  # the scores differ from face to face: the comparison can fail
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert [r["decision"] for r in held_out] == [predictor.decide(float(s)) for s in got]
    assert {r["threshold"] for r in held_out} == {predictor.threshold}


def test_where_scores_only_the_chosen_faces_and_reruns_add_nothing(scored):
    first, second, third = scored["runs"]
    after_first, scores = scored["after_first"], scored["scores"]
    assert set(after_first.column("split").to_pylist()) == {"test"}
    test_faces = sum(1 for s in scores.column("split").to_pylist() if s == "test")
    assert after_first.num_rows == test_faces
    assert f"faces: {test_faces} lacked a current score, {test_faces} scored" in first.stderr
    rest = scores.num_rows - test_faces
    assert f"faces: {rest} lacked a current score, {rest} scored" in second.stderr
    assert "faces: 0 lacked a current score, 0 scored" in third.stderr
    assert scored["lake"].version(SCORES) == scored["version_before_third"]  # no commit at all
    # the first run's rows are kept, not rewritten
    first_keys = dict(zip(after_first.column("face_key").to_pylist(), after_first.column("run_id").to_pylist()))
    now = dict(zip(scores.column("face_key").to_pylist(), scores.column("run_id").to_pylist()))
    assert all(now[key] == run for key, run in first_keys.items())


def test_a_folder_that_is_no_model_of_the_lake_is_refused_with_nothing_created(scored, tmp_path):
    lake_dir = tmp_path / "lake"
    shutil.copytree(scored["lake"].root, lake_dir)
    shutil.rmtree(lake_dir / "scores")
    folder = tmp_path / "foreign"
    shutil.copytree(scored["model"], folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics.pop("train_id")
    (folder / "metrics.json").write_text(json.dumps(metrics))
    result = run_job_cli("score", "--lake", str(lake_dir), "--model", str(folder), expect=2)
    assert "names no train_id and no train run of the lake" in result.stderr
    assert not (lake_dir / "scores").exists()
    missing = run_job_cli("score", "--lake", str(lake_dir), "--model", str(tmp_path / "nowhere"), expect=2)
    assert "model.keras is missing" in missing.stderr
    assert not (lake_dir / "scores").exists()


def test_parts_are_placed_on_the_current_frames_when_the_models_version_is_gone(scored, caplog):
    from dataclasses import replace

    from etl.score.model_parts import face_parts, scoring_model

    lake = scored["lake"]
    model = scoring_model(lake, scored["model"])
    assert model.trained_here and model.frames_version == lake.version(FRAMES)
    pinned = face_parts(lake, model).sort_by([("video_id", "ascending"), ("frame_index", "ascending")])
    gone = replace(model, frames_version=model.frames_version + 50)
    with caplog.at_level("WARNING"):
        current = face_parts(lake, gone).sort_by([("video_id", "ascending"), ("frame_index", "ascending")])
    assert current.equals(pinned)
    assert f"frames version {gone.frames_version} that {model.train_id} read is gone" in caplog.text
    scores = {r["face_key"]: r["part"] for r in scored["scores"].to_pylist()}
    assert {f"{r['video_id']}#{r['frame_index']}": r["part"] for r in pinned.to_pylist()} == {
        key: part for key, part in scores.items() if part != ScorePart.UNSEEN
    }
