"""`facelake train` and `facelake predict` as a user runs them: quiet output, one line per
epoch, a model that records its training faces' sharpness, predict defaults that decide
on faces like the training data, exit codes, `| head`, and help that teaches.

The session's one CLI training run (conftest.trained_model: 2 workers, 2 epochs, a
4-subject sample lake; P1 needs two training subjects, one trains, one validates) serves
the slow tests; the help and refusal tests need no model and stay in the fast tier.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO, run_job_cli, subprocess_env

# what Ray Train, Ray Data, TensorFlow and Keras print when nothing holds it back
CHATTER = (
    "Failed to query",
    "collective",
    "MirroredStrategy",
    "Traceback",
    "absl",
    "oneDNN",
    "cuda",
    "WARNING:",
    "Ray Data",
    "Running Dataset",
    "checkpoint",
)
EPOCH_LINE = re.compile(
    r"^facelake train: P1: epoch [12]/2: loss \d+\.\d{4} accuracy [01]\.\d{4} val_loss \d+\.\d{4} "
    r"val_accuracy [01]\.\d{4} lr [0-9.e-]+ \d+\.\d s$"
)


@pytest.fixture(scope="module")
def trained(trained_model):
    """The session's shared 2-worker, 2-epoch CLI training run (conftest.trained_model)."""
    return trained_model


def _jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _outcomes(lines: list[dict]) -> Counter:
    """Per video (its summary line): live / spoof / too_blurry / no_face / unreadable."""
    return Counter(line["decision"] or line["status"] for line in lines if line.get("summary"))


@pytest.mark.slow
def test_train_prints_facelake_lines_one_line_per_epoch_and_the_table(trained):
    out, err = trained.result.stdout, trained.result.stderr
    for stream, text in (("stdout", out), ("stderr", err)):
        leaked = [word for word in CHATTER if word.lower() in text.lower()]
        assert not leaked, f"{stream} shows {leaked}:\n{text}"
    # stdout is the data: the summary table and the line saying which figure is which, nothing else
    assert out.splitlines()[:2] == [
        "| protocol | frame ACER % | video ACER % | frame test EER % | video test EER % | frame AUC "
        "| frame threshold | video threshold |",
        "|---|---|---|---|---|---|---|---|",
    ]
    assert len(out.splitlines()) == 5 and out.splitlines()[2].startswith("| P1 | ") and out.splitlines()[3] == ""
    assert out.splitlines()[4].startswith("ACER: at the thresholds chosen on the validation subjects")
    lines = err.splitlines()
    assert all(line.startswith("facelake train: ") for line in lines), err
    assert len([line for line in lines if "epoch 1/2:" in line]) == 1, err
    assert len([line for line in lines if EPOCH_LINE.match(line)]) == 2, err
    # each worker's share of the faces, in one line
    assert re.search(r"^facelake train: P1: worker 0/2: \d+ training faces \(\d+ spoof\), worker 1/2: ", err, re.M)
    assert len(lines) <= 15, err  # facelake's own lines only: no per-step or per-worker chatter


@pytest.mark.slow
def test_train_log_file_holds_the_chatter(trained):
    last = trained.result.stderr.splitlines()[-1]
    assert last.startswith("facelake train: log: ")
    log_file = Path(last.removeprefix("facelake train: log: "))
    text = log_file.read_text()
    # facelake's lines with timestamps, and the libraries' output the terminal did not get
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO facelake\.train: P1: epoch 1/2: ", text, re.M)
    assert re.search(r"tensorflow|TensorFlow Lite|oneDNN|cuda", text), text[-3000:]
    # ... and where the Ray Train workers' own output went, which holds their chatter
    workers = re.search(r"ray_workers: the Ray Train workers' own output is in (\S+) ", text)
    assert workers, text[-3000:]
    worker_output = "".join(
        p.read_text(errors="replace") for p in Path(workers.group(1)).glob("worker-*") if p.is_file()
    )
    assert "MultiWorkerMirroredStrategy" in worker_output or "collective" in worker_output.lower()


@pytest.mark.slow
def test_model_records_its_training_faces_sharpness(trained):
    import pyarrow.compute as pc

    from etl.config import TrainConfig
    from etl.lake.lake import Lake
    from etl.train.protocols import parse_protocols, split_protocol
    from schemas import FRAMES

    profile = json.loads((trained.model / "metrics.json").read_text())["sharpness"]
    frames = Lake.open(str(trained.lake)).read(FRAMES)
    frames = frames.filter(pc.equal(frames.column("det_status"), "ok"))
    config = TrainConfig()
    split = split_protocol(
        frames, parse_protocols("p1")[0], validation_fraction=config.validation_fraction, seed=config.seed
    )
    counts = sorted(split.train.column("sharpness_count").to_pylist())
    # the percentile a training face has: the "lower" rank, floor(q / 100 * (n - 1))
    expected = {f"p{q}": counts[int(q / 100 * (len(counts) - 1))] for q in (1, 5, 50, 95)}
    assert profile == {"gate": None, "faces": len(counts), **expected}
    card = (trained.model / "model_card.md").read_text()
    assert f"the {len(counts)} training faces' sharpness counts" in card


@pytest.mark.slow
def test_predict_defaults_decide_on_the_training_like_videos_and_an_explicit_gate_still_gates(trained):
    videos = sorted((trained.tree / "Test").rglob("*.mov"))
    result = run_job_cli("predict", "--model", str(trained.model), str(trained.tree / "Test"), timeout=600)
    outcomes = _outcomes(_jsonl(result.stdout))
    assert sum(outcomes.values()) == len(videos) >= 8
    decided = outcomes["live"] + outcomes["spoof"]
    assert decided > len(videos) / 2 and outcomes["too_blurry"] == 0, outcomes
    profile = json.loads((trained.model / "metrics.json").read_text())["sharpness"]
    assert (
        f"facelake predict: sharpness gate {profile['p1']} (the 1st percentile of the model's "
        f"{profile['faces']} training faces)"
    ) in result.stderr
    summary = (
        f"facelake predict: scored {decided} of {len(videos)} inputs: {outcomes['live']} live, "
        f"{outcomes['spoof']} spoof, 0 too_blurry; {outcomes['no_face']} no_face, "
        f"{outcomes['unreadable']} unreadable ("
    )
    assert summary in result.stderr, result.stderr
    # the Android app's gate, asked for: the same faces are too blurry and get no decision
    ok_videos = [Path(line["path"]) for line in _jsonl(result.stdout) if line.get("summary") and line["decision"]][:2]
    gated = run_job_cli("predict", "--model", str(trained.model), "--min-sharpness", "1000", *map(str, ok_videos))
    lines = _jsonl(gated.stdout)
    assert _outcomes(lines) == Counter(too_blurry=2)
    frame = next(line for line in lines if line["status"] == "too_blurry" and not line.get("summary"))
    assert frame["reason"] == (f"sharpness {frame['sharpness_count']} below 1000 (--min-sharpness): too blurry, retake")
    assert "facelake predict: sharpness gate 1000 (--min-sharpness)" in gated.stderr
    assert "scored 2 of 2 inputs: 0 live, 0 spoof, 2 too_blurry; 0 no_face, 0 unreadable" in gated.stderr


@pytest.mark.slow
def test_predict_with_nothing_to_score_exits_1_with_a_summary(trained, tmp_path):
    fake = tmp_path / "notes.jpg"
    fake.write_text("not an image\n")
    truncated = tmp_path / "clip.mov"
    truncated.write_bytes(next((trained.tree / "Train").rglob("*.mov")).read_bytes()[:2000])
    missing = tmp_path / "missing.png"
    result = run_job_cli("predict", "--model", str(trained.model), str(fake), str(truncated), str(missing), expect=1)
    assert [line["status"] for line in _jsonl(result.stdout)] == ["unreadable"] * 3
    assert (
        "facelake predict: error: scored 0 of 3 inputs: 0 live, 0 spoof, 0 too_blurry; 0 no_face, 3 unreadable ("
    ) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    # a folder without any photo or video: nothing to score either
    (tmp_path / "empty").mkdir()
    result = run_job_cli("predict", "--model", str(trained.model), str(tmp_path / "empty"), expect=1)
    assert result.stdout == "" and "scored 0 of 0 inputs" in result.stderr


@pytest.mark.slow
def test_predict_into_head_exits_0_without_a_traceback(trained, tmp_path):
    """A real pipe: `head -1` leaves after the first line, the videos after it hit the closed pipe."""
    command = (
        f"set -o pipefail; {sys.executable} -m jobs.predict --model {trained.model} {trained.tree / 'Test'}"
        f" 2>{tmp_path / 'stderr'} | head -1"
    )
    result = subprocess.run(
        ["bash", "-c", command], cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=600
    )
    stderr = (tmp_path / "stderr").read_text()
    assert result.returncode == 0, stderr
    assert len(result.stdout.splitlines()) == 1 and json.loads(result.stdout)["path"].endswith(".mov")
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr and "error:" not in stderr, stderr
    assert "scored" not in stderr  # it stopped at the closed pipe, before the last video


# ---------------------------------------------------------------- fast: refusals and help


def test_train_without_a_lake_exits_2_and_creates_nothing(tmp_path):
    out = tmp_path / "models"
    result = run_job_cli("train", "--lake", str(tmp_path / "missing"), "--out", str(out), expect=2)
    assert not out.exists() and not (tmp_path / "missing").exists()
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"facelake train: error: no facelake lake at {tmp_path / 'missing'}")
    assert result.stdout == ""


def _help(module) -> str:
    return " ".join(module.build_parser().format_help().split())  # unwrapped: one line per word run


@pytest.mark.parametrize("job", ["train", "predict"])
def test_help_describes_every_option_and_shows_defaults_and_examples(job):
    import importlib

    module = importlib.import_module(f"jobs.{job}")
    parser = module.build_parser()
    for action in parser._actions:
        assert action.help and len(action.help) > 15, f"{job}: {action.option_strings or action.dest} has no help"
    text = _help(module)
    assert "notes" not in text.lower()
    assert "examples: # " in text and f"facelake {job} --" in text
    defaults = {
        "train": [
            "--epochs EPOCHS training epochs (fewer if early stopping ends the run) (default: 10)",
            "(default: 2)",
            "(default: 160)",
            "(default: p1)",
            "(default: 0)",
            "(default: 48)",
            "(default: MobileNet)",
            "(default: plateau)",
        ],
        "predict": [
            "(default: model)",
            "(default: keras)",
            "(default: 5)",
            "(default: mtcnn)",
            "(default: 0.8)",
            "(default: 40)",
        ],
    }[job]
    for default in defaults:
        assert default in text, (default, text)


def test_train_help_examples_cover_p1_all_protocols_and_resume():
    from jobs import predict, train

    text = _help(train)
    assert "--lake demo/lake --out demo/models" in text and "--protocol all" in text and "--resume" in text
    assert "1000 is the original SiW Android app's gate" in text
    text = _help(predict)
    assert "photos/" in text and "--format tflite_int8" in text and ".mov" in text
    assert "'android': 1000" in text and "'off' or 0: no gate" in text


def test_help_runs_through_the_cli_and_exits_0():
    result = run_job_cli("predict", "--help")
    assert result.stdout.startswith("usage: facelake predict") and "examples:" in result.stdout
