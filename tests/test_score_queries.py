"""The model-review queries over `scores` (error_slices, confident_errors, video_score_spread,
calibration, mistaken_labels) on a hand-written lake.

The `scores` rows are written here with known scores (exact in float32, so the stored values are
the written ones), for two models (so the default model is the one created last), on every part
(so train and validation faces are shown to stay out where they must), with a score of exactly
1.0 and one exactly at a model's threshold. Every expected row is computed below in plain Python
from the rows written, by the definitions in each query's header, and compared exactly (floats
approx). An empty lake shows each query runs without a scores table.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from etl.lake.lake import Lake
from etl.lake.query import declared_parameters, load_query, run_query
from schemas import SCORES, TRAIN_RUNS
from tests.conftest import run_job_cli

QUERIES = ("error_slices", "confident_errors", "video_score_spread", "calibration", "mistaken_labels")
DEFAULTS = {
    "error_slices": {"train_id": None, "part": "test"},
    "confident_errors": {"train_id": None, "part": "test", "n": 20},
    "video_score_spread": {"train_id": None, "part": "test", "n": 20},
    "calibration": {"train_id": None, "part": "test", "bins": 10},
    "mistaken_labels": {"train_id": None, "min_mistakenness": 0.9, "n": 50},
}
COLUMNS = {
    "error_slices": [
        "train_id", "dimension", "value", "faces", "live_faces", "attack_faces", "videos", "bpcer", "apcer",
    ],
    "confident_errors": [
        "train_id", "video_id", "label", "attack_type", "faces", "errors", "error_share", "mean_score",
        "worst_face_key", "worst_frame_index", "worst_score", "confidence",
    ],
    "video_score_spread": [
        "train_id", "video_id", "label", "attack_type", "faces", "mean_score", "std_score", "min_score",
        "max_score", "spoof_share", "disagreement",
    ],
    "calibration": ["train_id", "bin", "low", "high", "faces", "mean_score", "spoof_rate", "gap"],
    "mistaken_labels": [
        "level", "rank", "train_id", "part", "video_id", "face_key", "frame_index", "label", "attack_type",
        "faces", "score", "mistakenness",
    ],
}  # fmt: skip
DIMENSIONS = ("attack_type", "sensor", "medium", "session", "subject")
HELD_OUT = ("test", "unseen")

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
# model A is created first (train_runs) but scored last; B is created last, so B is the default
MODEL_A, MODEL_B = "run-a/P1", "run-b/P2.1"
THRESHOLDS = {MODEL_A: 0.5, MODEL_B: 0.375}
CREATED = {MODEL_A: T0, MODEL_B: T0 + timedelta(days=1)}
SCORED = {MODEL_A: T0 + timedelta(days=3), MODEL_B: T0 + timedelta(days=2)}

# (model, part, video_id, {frame_index: score}); every score is exact in float32
VIDEOS = [
    # model B, test: the default model and part
    (MODEL_B, "test", "Test/live/007/007-1-1-1-1", {0: 0.125, 1: 0.375, 2: 0.25, 3: 0.9375}),  # 0.375: at threshold
    (MODEL_B, "test", "Test/live/007/007-2-1-1-2", {0: 0.0625, 1: 0.125}),
    (MODEL_B, "test", "Test/spoof/007/007-1-2-1-1", {0: 1.0, 1: 0.96875, 2: 0.5, 3: 0.25}),
    (MODEL_B, "test", "Test/spoof/012/012-2-3-2-1", {3: 0.125, 1: 0.125, 5: 0.8125}),  # tied errors: frame 1 wins
    (MODEL_B, "test", "Test/live/012/012-1-1-1-2", {4: 0.5}),
    (MODEL_B, "test", "Test/live/015/015-1-1-1-1", {0: 0.96875, 1: 0.9375, 2: 0.9375}),
    (MODEL_B, "test", "Test/live/015/015-2-1-1-1", {0: 0.375, 1: 0.125}),  # its one error: at the threshold
    (MODEL_B, "validation", "Train/live/003/003-1-1-1-1", {0: 0.96875, 1: 0.0}),
    (MODEL_B, "train", "Train/spoof/003/003-1-2-1-1", {0: 0.0, 1: 0.03125}),
    (MODEL_B, "unseen", "Test/spoof/020/020-1-3-3-1", {0: 0.03125, 1: 0.0625}),
    # model A: the older model, scored later
    (MODEL_A, "test", "Test/live/007/007-1-1-1-1", {0: 0.25, 1: 0.75}),
    (MODEL_A, "test", "Test/spoof/007/007-1-2-1-1", {0: 0.5, 1: 0.0625}),
    (MODEL_A, "test", "Test/live/015/015-1-1-1-1", {0: 0.9375, 1: 1.0}),
    (MODEL_A, "train", "Train/live/003/003-1-1-1-1", {0: 1.0}),
    (MODEL_A, "validation", "Train/spoof/003/003-1-2-1-1", {0: 0.0}),
    (MODEL_A, "test", "Test/spoof/020/020-1-3-3-1", {0: 0.0}),  # one video on two held-out parts
    (MODEL_A, "unseen", "Test/spoof/020/020-1-3-3-1", {1: 0.03125}),
]
ATTACK_TYPES = {1: "live", 2: "print", 3: "replay"}
# a face without a session: its slice value is NULL, listed last
NO_SESSION = "Test/live/012/012-1-1-1-2"


def score_row(train_id: str, part: str, video_id: str, frame_index: int, score: float) -> dict:
    split, label, _, name = video_id.split("/")
    subject, sensor, kind, medium, session = (int(x) for x in name.split("-"))
    threshold = THRESHOLDS[train_id]
    values = dict(
        train_id=train_id,
        protocol=train_id.split("/")[1],
        face_key=f"{video_id}#{frame_index}",
        video_id=video_id,
        frame_index=frame_index,
        split=split.lower(),
        part=part,
        label=label,
        attack_type=ATTACK_TYPES[kind],
        subject=subject,
        sensor=sensor,
        medium=medium,
        session=None if video_id == NO_SESSION else session,
        score=score,
        threshold=threshold,
        decision="spoof" if score >= threshold else "live",
        model_format="keras",
        frames_run_id="ingest-1",
        run_id=f"score-{train_id}",
        created_at=SCORED[train_id],
    )
    assert set(values) == set(SCORES.schema.names)
    return values


ROWS = [score_row(m, part, v, i, s) for m, part, v, scores in VIDEOS for i, s in scores.items()]


def write_lake(path, rows: list[dict], train_ids: list[str]) -> Lake:
    lake = Lake(str(path))
    lake.append(SCORES, pa.Table.from_pylist(rows, schema=SCORES.schema))
    if train_ids:
        runs = [
            {
                **{name: None for name in TRAIN_RUNS.schema.names},
                "train_id": t,
                "run_id": t.split("/")[0],
                "protocol": t.split("/")[1],
                "threshold": THRESHOLDS[t],
                "created_at": CREATED[t],
            }
            for t in train_ids
        ]
        lake.append(TRAIN_RUNS, pa.Table.from_pylist(runs, schema=TRAIN_RUNS.schema))
    return lake


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    return write_lake(tmp_path_factory.mktemp("scores") / "lake", ROWS, [MODEL_A, MODEL_B])


def query(lake: Lake, name: str, **params):
    return run_query(lake, load_query(name), params)


def assert_rows(table, name: str, expected: list[dict]) -> None:
    """The table has exactly the query's columns (in order) and these rows (in order); floats approx."""
    columns = COLUMNS[name]
    assert table.column_names == columns
    actual = table.to_pylist()
    assert len(actual) == len(expected), (actual, expected)
    for index, (got, want) in enumerate(zip(actual, expected)):
        assert list(want) == columns, index
        for column in columns:
            if isinstance(want[column], float):
                assert got[column] == pytest.approx(want[column], rel=1e-12, abs=1e-12), (index, column, got, want)
            else:
                assert got[column] == want[column], (index, column, got, want)


# ---------------------------------------------------------------- expected values, from the rows


def faces_of(train_id: str, part: str) -> list[dict]:
    return [r for r in ROWS if r["train_id"] == train_id and r["part"] == part]


def wrong(row: dict) -> bool:
    return (row["label"] == "live") == (row["decision"] == "spoof")


def by_video(rows: list[dict]) -> dict[str, list[dict]]:
    videos: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        videos[row["video_id"]].append(row)
    return videos


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def slice_value(row: dict, dimension: str) -> str | None:
    value = row[dimension]
    if value is None:
        return None
    return f"{value:03d}" if dimension == "subject" else str(value)


def value_order(value: str | None):
    if value is None:
        return (2, 0, "")
    return (0, int(value), value) if value.isdigit() else (1, 0, value)


def expected_error_slices(train_id: str, part: str) -> list[dict]:
    out = []
    for dimension in DIMENSIONS:
        groups: dict = defaultdict(list)
        for row in faces_of(train_id, part):
            groups[slice_value(row, dimension)].append(row)
        for value in sorted(groups, key=value_order):
            rows = groups[value]
            live = [r for r in rows if r["label"] == "live"]
            attacks = [r for r in rows if r["label"] == "spoof"]
            out.append(
                {
                    "train_id": train_id,
                    "dimension": dimension,
                    "value": value,
                    "faces": len(rows),
                    "live_faces": len(live),
                    "attack_faces": len(attacks),
                    "videos": len({r["video_id"] for r in rows}),
                    "bpcer": ratio(sum(r["decision"] == "spoof" for r in live), len(live)),
                    "apcer": ratio(sum(r["decision"] == "live" for r in attacks), len(attacks)),
                }
            )
    return out


def expected_confident_errors(train_id: str, part: str, n: int = 20) -> list[dict]:
    out = []
    for video_id, rows in by_video(faces_of(train_id, part)).items():
        errors = [r for r in rows if wrong(r)]
        if not errors:
            continue
        worst = max(errors, key=lambda r: (abs(r["score"] - r["threshold"]), -r["frame_index"]))
        out.append(
            {
                "train_id": train_id,
                "video_id": video_id,
                "label": rows[0]["label"],
                "attack_type": rows[0]["attack_type"],
                "faces": len(rows),
                "errors": len(errors),
                "error_share": len(errors) / len(rows),
                "mean_score": statistics.fmean(r["score"] for r in rows),
                "worst_face_key": worst["face_key"],
                "worst_frame_index": worst["frame_index"],
                "worst_score": worst["score"],
                "confidence": abs(worst["score"] - worst["threshold"]),
            }
        )
    out.sort(key=lambda r: (-r["confidence"], -r["error_share"], r["video_id"]))
    return out[:n]


def expected_video_score_spread(train_id: str, part: str, n: int = 20) -> list[dict]:
    out = []
    for video_id, rows in by_video(faces_of(train_id, part)).items():
        scores = [r["score"] for r in rows]
        share = sum(r["decision"] == "spoof" for r in rows) / len(rows)
        out.append(
            {
                "train_id": train_id,
                "video_id": video_id,
                "label": rows[0]["label"],
                "attack_type": rows[0]["attack_type"],
                "faces": len(rows),
                "mean_score": statistics.fmean(scores),
                "std_score": statistics.pstdev(scores),
                "min_score": min(scores),
                "max_score": max(scores),
                "spoof_share": share,
                "disagreement": min(share, 1 - share),
            }
        )
    out.sort(key=lambda r: (-r["std_score"], -r["disagreement"], r["video_id"]))
    return out[:n]


def expected_calibration(train_id: str, part: str, bins: int = 10) -> list[dict]:
    rows = faces_of(train_id, part)
    if not rows:
        return []
    members: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        members[min(math.floor(row["score"] * bins), bins - 1)].append(row)
    out = []
    for b in range(bins):
        inside = members.get(b, [])
        mean = statistics.fmean(r["score"] for r in inside) if inside else None
        rate = sum(r["label"] == "spoof" for r in inside) / len(inside) if inside else None
        out.append(
            {
                "train_id": train_id,
                "bin": b,
                "low": b / bins,
                "high": (b + 1) / bins,
                "faces": len(inside),
                "mean_score": mean,
                "spoof_rate": rate,
                "gap": None if mean is None else mean - rate,
            }
        )
    return out


def mistakenness(row: dict) -> float:
    return row["score"] if row["label"] == "live" else 1 - row["score"]


def expected_mistaken_labels(train_id: str | None = None, minimum: float = 0.9, n: int = 50) -> list[dict]:
    held_out = [r for r in ROWS if r["part"] in HELD_OUT and train_id in (None, r["train_id"])]
    videos: dict[tuple, list[dict]] = defaultdict(list)
    for row in held_out:
        videos[(row["train_id"], row["video_id"])].append(row)
    video_rows = [
        {
            "level": "video",
            "train_id": t,
            "part": rows[0]["part"] if len({r["part"] for r in rows}) == 1 else "test+unseen",
            "video_id": v,
            "face_key": None,
            "frame_index": None,
            "label": rows[0]["label"],
            "attack_type": rows[0]["attack_type"],
            "faces": len(rows),
            "score": statistics.fmean(r["score"] for r in rows),
            "mistakenness": statistics.fmean(mistakenness(r) for r in rows),
        }
        for (t, v), rows in videos.items()
    ]
    face_rows = [
        {
            "level": "face",
            **{k: r[k] for k in ("train_id", "part", "video_id", "face_key", "frame_index", "label", "attack_type")},
            "faces": 1,
            "score": r["score"],
            "mistakenness": mistakenness(r),
        }
        for r in held_out
    ]
    out = []
    for rows in (video_rows, face_rows):
        kept = [r for r in rows if r["mistakenness"] >= minimum]
        kept.sort(key=lambda r: (-r["mistakenness"], r["train_id"], r["video_id"], r["frame_index"] or 0))
        out += [{"level": r["level"], "rank": i, **r} for i, r in enumerate(kept[:n], start=1)]
    return [{column: row[column] for column in COLUMNS["mistaken_labels"]} for row in out]


# ---------------------------------------------------------------- the fixture covers what it must


def test_the_written_rows_cover_the_edge_cases(lake):
    stored = lake.read(SCORES).to_pylist()
    assert sorted((r["face_key"], r["train_id"], r["score"]) for r in stored) == sorted(
        (r["face_key"], r["train_id"], r["score"]) for r in ROWS
    )  # float32 stores every score exactly
    assert {r["part"] for r in ROWS} == {"train", "validation", "test", "unseen"}
    assert any(r["score"] == 1.0 for r in faces_of(MODEL_B, "test"))
    at_threshold = [r for r in faces_of(MODEL_B, "test") if r["score"] == r["threshold"]]
    assert [r["decision"] for r in at_threshold] == ["spoof", "spoof"]


def test_the_declared_defaults():
    for name in QUERIES:
        assert {p.name: p.default for p in declared_parameters(load_query(name))} == DEFAULTS[name], name


# ---------------------------------------------------------------- one test per query


def test_error_slices_default_to_the_model_created_last_on_test(lake):
    expected = expected_error_slices(MODEL_B, "test")
    assert [r["value"] for r in expected if r["dimension"] == "subject"] == ["007", "012", "015"]
    assert [r["value"] for r in expected if r["dimension"] == "session"] == ["1", "2", None]
    assert {r["bpcer"] for r in expected if r["value"] == "print"} == {None}
    assert {r["apcer"] for r in expected if r["value"] == "live"} == {None}
    assert_rows(query(lake, "error_slices"), "error_slices", expected)
    assert_rows(query(lake, "error_slices", train_id=MODEL_B, part="test"), "error_slices", expected)


@pytest.mark.parametrize(("train_id", "part"), [(MODEL_A, "test"), (MODEL_B, "validation"), (MODEL_B, "unseen")])
def test_error_slices_of_another_model_or_part(lake, train_id, part):
    assert_rows(
        query(lake, "error_slices", train_id=train_id, part=part), "error_slices", expected_error_slices(train_id, part)
    )


def test_the_default_model_without_train_runs_is_the_one_scored_last(tmp_path):
    """Without train_runs rows the newest score decides: model A here (B wins when train_runs says B is newer)."""
    bare = write_lake(tmp_path / "lake", ROWS, [])
    assert_rows(query(bare, "error_slices"), "error_slices", expected_error_slices(MODEL_A, "test"))
    assert_rows(query(bare, "confident_errors"), "confident_errors", expected_confident_errors(MODEL_A, "test"))


def test_a_part_outside_the_vocabulary_is_refused(lake, tmp_path):
    empty = Lake(str(tmp_path / "empty"))
    for target in (lake, empty):
        for name in ("error_slices", "confident_errors", "video_score_spread", "calibration"):
            refusal = f"{name}: part must be one of train, validation, test, unseen; got tst"
            with pytest.raises(Exception, match=refusal):
                query(target, name, part="tst")
    with pytest.raises(Exception, match="calibration: bins must be 1 or more; got 0"):
        query(lake, "calibration", bins=0)


def test_confident_errors(lake):
    expected = expected_confident_errors(MODEL_B, "test")
    by_id = {r["video_id"]: r for r in expected}
    assert by_id["Test/spoof/012/012-2-3-2-1"]["worst_frame_index"] == 1  # tied with frame 3: the lower wins
    assert "Test/live/007/007-2-1-1-2" not in by_id  # no error
    tied = [(r["video_id"], r["error_share"]) for r in expected if r["confidence"] == 0.125]
    assert tied == [("Test/live/012/012-1-1-1-2", 1.0), ("Test/spoof/007/007-1-2-1-1", 0.25)]  # larger share first
    assert_rows(query(lake, "confident_errors"), "confident_errors", expected)
    assert_rows(query(lake, "confident_errors", n=2), "confident_errors", expected[:2])
    for train_id, part in ((MODEL_A, "test"), (MODEL_B, "validation"), (MODEL_B, "train")):
        assert_rows(
            query(lake, "confident_errors", train_id=train_id, part=part),
            "confident_errors",
            expected_confident_errors(train_id, part),
        )


def test_an_error_right_at_the_threshold_has_confidence_zero(lake):
    expected = expected_confident_errors(MODEL_B, "test")
    at_threshold = [r for r in expected if r["video_id"] == "Test/live/015/015-2-1-1-1"]
    assert at_threshold == [expected[-1]]
    assert (at_threshold[0]["errors"], at_threshold[0]["worst_score"], at_threshold[0]["confidence"]) == (1, 0.375, 0)
    assert_rows(query(lake, "confident_errors"), "confident_errors", expected)


def test_video_score_spread(lake):
    expected = expected_video_score_spread(MODEL_B, "test")
    assert expected[-1]["std_score"] == 0.0 and expected[-1]["faces"] == 1
    assert_rows(query(lake, "video_score_spread"), "video_score_spread", expected)
    assert_rows(query(lake, "video_score_spread", n=3), "video_score_spread", expected[:3])
    assert_rows(
        query(lake, "video_score_spread", train_id=MODEL_A, part="test"),
        "video_score_spread",
        expected_video_score_spread(MODEL_A, "test"),
    )


@pytest.mark.parametrize("bins", [10, 8, 4, 1])
def test_calibration(lake, bins):
    expected = expected_calibration(MODEL_B, "test", bins)
    assert len(expected) == bins and sum(r["faces"] for r in expected) == len(faces_of(MODEL_B, "test"))
    assert expected[-1]["faces"] >= 1  # score 1.0 falls in the last bin
    params = {} if bins == 10 else {"bins": bins}
    assert_rows(query(lake, "calibration", **params), "calibration", expected)


def test_calibration_lists_empty_bins_and_nothing_without_faces(lake):
    expected = expected_calibration(MODEL_A, "test", 10)
    assert any(r["faces"] == 0 for r in expected)
    assert_rows(query(lake, "calibration", train_id=MODEL_A), "calibration", expected)
    assert_rows(query(lake, "calibration", train_id="no-such/P1"), "calibration", [])
    assert_rows(
        query(lake, "calibration", train_id=MODEL_A, part="unseen"),
        "calibration",
        expected_calibration(MODEL_A, "unseen"),
    )


def test_mistaken_labels_lists_every_model_on_held_out_parts_only(lake):
    expected = expected_mistaken_labels()
    assert {r["train_id"] for r in expected} == {MODEL_A, MODEL_B}
    assert {r["part"] for r in expected} == {*HELD_OUT, "test+unseen"}
    # train and validation faces the model contradicts just as strongly are not listed
    seen = [r for r in ROWS if r["part"] not in HELD_OUT and mistakenness(r) >= 0.9]
    assert seen and not {r["face_key"] for r in seen} & {r["face_key"] for r in expected if r["level"] == "face"}
    assert [r["level"] for r in expected] == sorted((r["level"] for r in expected), reverse=True)  # videos first
    assert_rows(query(lake, "mistaken_labels"), "mistaken_labels", expected)


@pytest.mark.parametrize(
    "params",
    [
        {"train_id": MODEL_B},
        {"min_mistakenness": 0.5},
        {"min_mistakenness": 0.96875},
        {"n": 1},
        {"min_mistakenness": 0.0},
    ],
)
def test_mistaken_labels_parameters(lake, params):
    expected = expected_mistaken_labels(
        params.get("train_id"), params.get("min_mistakenness", 0.9), params.get("n", 50)
    )
    assert expected
    assert_rows(query(lake, "mistaken_labels", **params), "mistaken_labels", expected)


# ---------------------------------------------------------------- no scores table; the CLI


def test_every_query_runs_on_a_lake_without_scores(tmp_path):
    empty = Lake(str(tmp_path / "empty-lake"))
    for name in QUERIES:
        assert_rows(query(empty, name), name, [])


def test_audit_answers_the_score_questions(lake):
    result = run_job_cli("audit", "--lake", lake.root, "--only", *QUERIES, "--format", "json")
    document = json.loads(result.stdout)
    assert list(document) == list(QUERIES)
    for name in QUERIES:
        answer = document[name]
        assert answer["parameters"] == DEFAULTS[name], name
        assert answer["columns"] == COLUMNS[name], name
        assert len(answer["rows"]) == query(lake, name).num_rows > 0, name
    slices = document["error_slices"]["rows"]
    assert [r["value"] for r in slices if r["dimension"] == "subject"] == ["007", "012", "015"]
