"""bench/scale.py's arithmetic on given numbers: the driver-growth check, the cost fit, the
ingest projection to SiW, and how Ray worker processes are told apart (no Ray, no jobs run)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import scale  # noqa: E402


def test_growth_check_passes_under_100_mb_and_fails_at_it():
    peaks = {"ingest": {1: 360.0, 4: 380.0, 16: 459.9}, "train": {1: 990.0, 16: 1090.0}, "embed": {1: 1.0, 16: 900.0}}
    checks = {c.job: c for c in scale.growth_checks(peaks)}
    assert set(checks) == {"ingest", "train"}  # embed is not a checked job
    assert (checks["ingest"].from_scale, checks["ingest"].to_scale) == (1, 16)
    assert checks["ingest"].growth_mb == pytest.approx(99.9)
    assert checks["ingest"].passed
    assert checks["train"].growth_mb == pytest.approx(100.0)
    assert not checks["train"].passed  # "less than 100 MB"
    assert checks["train"].line().startswith("FAIL train: driver peak x1 990 MB -> x16 1090 MB, +100 MB")


def test_growth_check_needs_two_scales_and_may_shrink():
    checks = scale.growth_checks({"ingest": {1: 400.0}, "train": {2: 500.0, 1: 520.0}})
    assert [(c.job, c.from_scale, c.to_scale, c.growth_mb, c.passed) for c in checks] == [("train", 1, 2, -20.0, True)]


def test_fit_cost_separates_fixed_start_up_from_the_per_item_cost():
    # 10 s of start-up, then 0.05 s per frame with 2 workers: 0.1 s per frame per worker
    cost = scale.fit_cost([(items, 10 + 0.05 * items) for items in (1500, 6000, 24000)], workers=2)
    assert cost.fixed_s == pytest.approx(10.0)
    assert cost.per_item_s == pytest.approx(0.05)
    assert cost.per_item_worker_s == pytest.approx(0.1)
    assert (cost.points, cost.fitted) == (3, True)


def test_fit_cost_with_one_point_or_a_falling_line_has_no_fixed_part():
    assert scale.fit_cost([(100, 20.0)], workers=2) == scale.Cost(0.0, 0.2, 2, 1, fitted=False)
    falling = scale.fit_cost([(100, 30.0), (200, 29.0)], workers=1)  # noise between close sizes
    assert (falling.fixed_s, falling.per_item_s, falling.fitted) == (0.0, pytest.approx(29.0 / 200), False)
    steep = scale.fit_cost([(1440, 34.1), (2880, 89.0)], workers=2)  # a line through -20.8 s: the load changed
    assert (steep.fixed_s, steep.per_item_s, steep.fitted) == (0.0, pytest.approx(89.0 / 2880), False)


def test_worker_cost_at_1080p_on_cpu_and_assumed_gpu():
    a = scale.Assumptions(hd_factor=3.0, hd_decode_fps=100.0, gpu_speedup=5.0)
    assert scale.worker_cost_1080(0.05, "cpu", a) == pytest.approx(0.15)
    assert scale.worker_cost_1080(0.05, "gpu", a) == pytest.approx(0.03)  # 0.15 / 5
    assert scale.worker_cost_1080(0.001, "gpu", a) == pytest.approx(0.01)  # never below decoding: 1 / 100 fps


def test_projection_formula():
    a = scale.Assumptions(hd_factor=3.0, hd_decode_fps=100.0, gpu_speedup=5.0, workers_per_node=8)
    cost = scale.Cost(fixed_s=12.0, per_item_s=0.025, workers=2, points=2)  # 0.05 s per frame per worker
    rows = scale.project_ingest(cost, commit_s_per_frame=0.0002, a=a, nodes=(1, 16), datasets=(("SiW", 2_000_000),))
    assert [(r.kind, r.nodes, r.workers) for r in rows] == [
        ("CPU (measured)", 1, 8),
        ("CPU (measured)", 16, 128),
        ("GPU (assumed)", 1, 8),
        ("GPU (assumed)", 16, 128),
    ]
    cpu_1 = rows[0]
    assert cpu_1.compute_s == pytest.approx(2_000_000 * 0.15 / 8)  # 37,500 s
    assert cpu_1.commit_s == pytest.approx(400.0)
    assert cpu_1.total_s == pytest.approx(12.0 + 37_500)
    assert cpu_1.frames_per_s == pytest.approx(8 / 0.15)
    assert cpu_1.commit_share == pytest.approx(400 / 37_500)
    gpu_16 = rows[3]  # 0.03 s per frame per worker, 128 workers: compute 468.75 s, commits 400 s
    assert gpu_16.compute_s == pytest.approx(468.75)
    assert gpu_16.total_s == pytest.approx(12.0 + 468.75)
    slow_commits = scale.project_ingest(
        cost, commit_s_per_frame=0.001, a=a, nodes=(16,), datasets=(("SiW", 2_000_000),)
    )[1]
    assert slow_commits.total_s == pytest.approx(12.0 + 2000.0)  # the driver's commits set the pace
    assert slow_commits.commit_share > 1
    table = scale.projection_table(rows, bytes_per_frame=25_000)
    assert table.count("\n") == 1 + len(rows)
    assert "| SiW | 2,000,000 | 1 (8) | CPU (measured) | 0.1500 | 53 | 0.01 | 1.3 | 10.4 h |" in table


def test_siw_constants():
    assert scale.SIW_FRAMES == 4478 * 450
    assert scale.HD_FACTOR == pytest.approx(3.15)
    assert math.isclose(1 / scale.HD_DECODE_FPS, 0.01152, rel_tol=1e-3)


def test_ray_worker_titles():
    assert scale.ray_worker_title("ray::IDLE") == "ray::IDLE"
    assert scale.ray_worker_title("ray::_process_remote") == "ray::_process_remote"
    assert (
        scale.ray_worker_title("/venv/bin/python /venv/ray/_private/workers/default_worker.py --node-ip-address=1")
        == "ray::(starting)"
    )
    for daemon in (
        "ray::DashboardAgent",
        "ray::RuntimeEnvAgent",
        "/venv/ray/core/src/ray/raylet/raylet --x",
        "/venv/ray/core/src/ray/gcs/gcs_server --y",
        "",
    ):
        assert scale.ray_worker_title(daemon) is None


def test_jobs_run_with_the_jobs_whose_tables_they_read():
    assert scale.plan_jobs(["dedup"]) == ["ingest", "embed", "dedup"]
    assert scale.plan_jobs(["train", "ingest"]) == ["ingest", "train"]
    assert scale.plan_jobs(["embed", "train"]) == ["ingest", "embed", "train"]


def test_options_are_checked():
    args = scale.parse_args(["--scales", "4,1,4", "--jobs", "ingest,train"])
    assert (args.scale_list, args.job_list, args.workers, args.epochs) == ([1, 4], ["ingest", "train"], 2, 1)
    for bad in (
        ["--jobs", "ingest,nope"],
        ["--scales", "0,1"],
        ["--scales", "1,300"],
        ["--check", "--scales", "1"],
        ["--check", "--jobs", "embed"],
    ):
        with pytest.raises(SystemExit):
            scale.parse_args(bad)
