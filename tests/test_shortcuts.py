"""The shortcut audit (`queries/shortcuts.sql`) per SiW protocol, the brightness and contrast measures
it reads, and the sample generator that no longer plants shortcuts (issue 19, item 4).

Every expected AUC is computed here with numpy from the lake's rows: each protocol's train and test
parts selected by hand from the protocol rules, every (attack, live) pair compared, and the combined
model (a diagonal linear discriminant) fitted on the train part with numpy. The old generator's
output (`write_sample_tree(shortcuts=True)`) must show its sharpness shortcut; the default sample
(the shared `clean_ingest` lake) must show none.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLE_ARGS, run_ingest_cli

from etl.faces.photometry import background_photometry, face_photometry, luma
from etl.lake.lake import Lake
from etl.lake.query import load_query, run_query
from etl.synthetic.siw_tree import HARDER, _captures
from etl.synthetic.videos import CAPTURE_RANGES
from schemas import FRAMES, VIDEOS

FLAG = 0.8
P1_FRAMES = 60
MIN_VIDEOS = 2
# What the audit flags on the default sample, and why it is not a liveness cue the generator should lose. Since ingest
# follows a face with ONet alone (issue 20), the detected box sits steadily in the same place relative to the `.face`
# box within a video (IoU std 0.01-0.05, was 0.03-0.05), so a per-video difference shows: on the sample's one test
# subject, the 2 live videos' boxes overlap the .face box a little less (mean IoU 0.87, 0.89) than the 3 attacks'
# (0.92-0.93): P1 (all attacks) and P3.1 (the 2 replays) flag it at AUC 0.82, just over 0.8, with 2 live videos, the
# least the flag allows ($min_videos). P3.2 has one print video with faces, so it is not flagged there.
KNOWN_FLAGGED = {("P1", "face_box_iou"), ("P3.1", "face_box_iou")}
FEATURES = (
    "sharpness_lapvar",
    "sharpness_count",
    "det_score",
    "face_width",
    "face_height",
    "face_center_x",
    "face_center_y",
    "face_box_iou",
    "face_brightness",
    "face_contrast",
    "background_brightness",
    "background_contrast",
    "frame_index",
    "sensor",
    "medium",
    "session",
    "bitrate",
    "resolution",
)
FRAME_COLUMNS = [c for c in FRAMES.schema.names if c not in FRAMES.blob_columns]


# ---------------------------------------------------------------- expected values, in numpy


def _features(frame: dict, video: dict) -> dict:
    """The query's features of one frame, computed here from the rows (None: undefined)."""
    x1, y1, x2, y2 = frame["det_box"]
    width, height = video["width"], video["height"]
    iou = None
    if frame["face_box"] is not None:
        a1, b1, a2, b2 = frame["face_box"]
        inter = max(0.0, min(a2, x2) - max(a1, x1)) * max(0.0, min(b2, y2) - max(b1, y1))
        union = (a2 - a1) * (b2 - b1) + (x2 - x1) * (y2 - y1) - inter
        iou = inter / union if union else None
    return {
        "sharpness_lapvar": frame["sharpness_lapvar"],
        "sharpness_count": frame["sharpness_count"],
        "det_score": frame["det_score"],
        "face_width": (x2 - x1) / width,
        "face_height": (y2 - y1) / height,
        "face_center_x": (x1 + x2) / 2 / width,
        "face_center_y": (y1 + y2) / 2 / height,
        "face_box_iou": iou,
        "face_brightness": frame["face_brightness"],
        "face_contrast": frame["face_contrast"],
        "background_brightness": frame["background_brightness"],
        "background_contrast": frame["background_contrast"],
        "frame_index": frame["frame_index"],
        "sensor": frame["sensor"],
        "medium": frame["medium"],
        "session": video["session"],
        "bitrate": video["size_bytes"] * 8 / (video["stream_frames"] / video["fps"]),
        "resolution": width * height,
    }


def _parts(frame: dict) -> list[tuple[str, str]]:
    """(protocol, part) of every protocol part the frame belongs to, from the rules in etl/train/protocols.py."""
    split, kind, medium = frame["split"], frame["attack_type"], frame["medium"]
    out = []
    if split == "test" or frame["frame_index"] < P1_FRAMES:
        out.append(("P1", split))
    for k in (1, 2, 3, 4):
        if kind == "live" or (kind == "replay" and (medium == k) == (split == "test")):
            out.append((f"P2.{k}", split))
    for name, (trained, tested) in {"P3.1": ("print", "replay"), "P3.2": ("replay", "print")}.items():
        if kind in ("live", trained if split == "train" else tested):
            out.append((name, split))
    return out


def _auc(attack, live) -> float:
    """Every (attack, live) pair: the attack value higher counts 1, a tie a half."""
    a, b = np.asarray(attack, dtype=float)[:, None], np.asarray(live, dtype=float)[None, :]
    return float(((a > b).sum() + 0.5 * (a == b).sum()) / (a.size * b.size))


def expected_rows(lake: Lake) -> dict[tuple[str, str], dict]:
    videos = {v["video_id"]: v for v in lake.read(VIDEOS).to_pylist()}
    parts: dict[tuple[str, str], list[tuple[bool, dict]]] = {}
    for frame in lake.read(FRAMES, columns=FRAME_COLUMNS).to_pylist():
        if frame["det_status"] != "ok":
            continue
        values = _features(frame, videos[frame["video_id"]])
        for key in _parts(frame):
            parts.setdefault(key, []).append((frame["label"] == "spoof", {**values, "video": frame["video_id"]}))
    rows = {}
    protocols = sorted({protocol for protocol, _ in parts})
    for protocol in protocols:
        test = parts.get((protocol, "test"), [])
        columns = {
            name: [(spoof, v[name], v["video"]) for spoof, v in test if v[name] is not None and np.isfinite(v[name])]
            for name in FEATURES
        }
        scores = _combined(parts.get((protocol, "train"), []), test)
        if scores:
            columns["combined"] = scores
        for name, triples in columns.items():
            attack = [value for spoof, value, _ in triples if spoof]
            live = [value for spoof, value, _ in triples if not spoof]
            if attack and live:
                rows[(protocol, name)] = {
                    "attack_frames": len(attack),
                    "live_frames": len(live),
                    "attack_videos": len({video for spoof, _, video in triples if spoof}),
                    "live_videos": len({video for spoof, _, video in triples if not spoof}),
                    "auc": _auc(attack, live),
                }
    return rows


def _combined(train: list[tuple[bool, dict]], test: list[tuple[bool, dict]]) -> list[tuple[bool, float, str]]:
    """Diagonal LDA fitted on `train`: weight = (attack mean - live mean) / pooled population variance."""
    weights = {}
    for name in FEATURES:
        values = [(spoof, v[name]) for spoof, v in train if v[name] is not None and np.isfinite(v[name])]
        attack = np.array([x for spoof, x in values if spoof], dtype=float)
        live = np.array([x for spoof, x in values if not spoof], dtype=float)
        if not attack.size or not live.size:
            continue
        variance = (attack.var() * attack.size + live.var() * live.size) / (attack.size + live.size)
        if variance > 0:
            weights[name] = ((attack.mean() - live.mean()) / variance, (attack.mean() + live.mean()) / 2)
    out = []
    for spoof, v in test:
        terms = [w * (v[n] - mid) for n, (w, mid) in weights.items() if v[n] is not None and np.isfinite(v[n])]
        if terms:
            out.append((spoof, float(np.sum(terms)), v["video"]))
    return out


def assert_equals_numpy(lake: Lake) -> dict[tuple[str, str], dict]:
    answer = run_query(lake, load_query("shortcuts"), {})
    assert answer.column_names == [
        "protocol",
        "feature",
        "attack_frames",
        "live_frames",
        "attack_videos",
        "live_videos",
        "auc",
        "strength",
        "flagged",
        "meaning",
    ]
    rows = {(r["protocol"], r["feature"]): r for r in answer.to_pylist()}
    expected = expected_rows(lake)
    assert sorted(rows) == sorted(expected)
    for key, want in expected.items():
        row = rows[key]
        strength = max(want["auc"], 1 - want["auc"])
        assert (row["attack_frames"], row["live_frames"]) == (want["attack_frames"], want["live_frames"]), key
        assert row["auc"] == pytest.approx(want["auc"], abs=6e-5), key
        assert row["strength"] == pytest.approx(strength, abs=6e-5), key
        assert (row["attack_videos"], row["live_videos"]) == (want["attack_videos"], want["live_videos"]), key
        enough = want["attack_videos"] >= MIN_VIDEOS and want["live_videos"] >= MIN_VIDEOS
        assert row["flagged"] == (strength >= FLAG and enough), key
        # a strong feature always says what it means: why it is flagged, or why not (too few videos)
        assert (row["meaning"] != "") == (strength >= FLAG), key
        assert row["meaning"].startswith("not flagged") == (strength >= FLAG and not enough), key
    order = [(r["protocol"], -r["strength"]) for r in answer.to_pylist()]
    assert order == sorted(order)
    return rows


# ---------------------------------------------------------------- the default sample: no shortcut


@pytest.fixture(scope="module")
def lake(clean_ingest) -> Lake:
    return Lake(str(clean_ingest.lake))


def test_every_protocol_and_feature_equals_numpy_on_the_sample(lake):
    rows = assert_equals_numpy(lake)
    # the sample's test split holds replay media 3 and 4 only: P2.1 and P2.2 have no test attacks, so no rows
    assert {protocol for protocol, _ in rows} == {"P1", "P2.3", "P2.4", "P3.1", "P3.2"}
    assert {feature for _, feature in rows} == {*FEATURES, "combined"}


def test_no_feature_is_flagged_on_the_default_sample(lake):
    rows = run_query(lake, load_query("shortcuts"), {}).to_pylist()
    assert rows and {(r["protocol"], r["feature"]) for r in rows if r["flagged"]} == KNOWN_FLAGGED
    # on the parts with several videos a side nothing else is even strong; what is strong rests on one video a side
    strong = [r for r in rows if r["strength"] >= FLAG and (r["protocol"], r["feature"]) not in KNOWN_FLAGGED]
    assert all(min(r["attack_videos"], r["live_videos"]) < MIN_VIDEOS for r in strong), strong
    assert all(r["meaning"].startswith(f"not flagged: strong on {r['protocol']}'s test part") for r in strong)
    several = {r["protocol"] for r in rows if min(r["attack_videos"], r["live_videos"]) >= MIN_VIDEOS}
    assert {"P1", "P3.1"} <= several
    # without the video gate, what flags besides those is what is strong on single-video parts
    ungated = run_query(lake, load_query("shortcuts"), {"min_videos": 1}).to_pylist()
    assert {(r["protocol"], r["feature"]) for r in ungated if r["flagged"]} == {
        (r["protocol"], r["feature"]) for r in strong
    } | KNOWN_FLAGGED
    # a flag low enough to catch anything catches what reaches it, with its meaning
    loose = run_query(lake, load_query("shortcuts"), {"flag": 0.5, "min_videos": 1}).to_pylist()
    assert all(r["flagged"] and r["meaning"] for r in loose)


# ---------------------------------------------------------------- the old generator: its shortcut shows


@pytest.fixture(scope="module")
def legacy_lake(tmp_path_factory) -> Lake:
    from etl.synthetic.siw_tree import write_sample_tree

    base = tmp_path_factory.mktemp("legacy-shortcuts")
    write_sample_tree(base / "tree", **SAMPLE_ARGS, shortcuts=True)
    run_ingest_cli(base / "tree", base / "lake")
    return Lake(str(base / "lake"))


@pytest.mark.slow  # writes and ingests a sample of its own
def test_the_old_generator_carries_the_sharpness_shortcut_and_the_audit_flags_it(legacy_lake):
    rows = assert_equals_numpy(legacy_lake)
    for protocol in ("P1", "P3.2"):  # every attack, and print attacks (P3.2's test part) alone
        sharp = rows[(protocol, "sharpness_lapvar")]
        assert sharp["auc"] > 0.95, sharp
        if protocol == "P1":  # several videos a side: flagged
            assert min(sharp["attack_videos"], sharp["live_videos"]) >= MIN_VIDEOS and sharp["flagged"], sharp
        if sharp["flagged"]:
            assert sharp["meaning"].startswith(
                f"sharpness_lapvar alone tells {protocol}'s test attacks from live faces (higher on attacks)"
            )
        else:  # one print video in the test split
            assert sharp["attack_videos"] < MIN_VIDEOS and sharp["meaning"].startswith("not flagged"), sharp
    assert rows[("P1", "bitrate")]["flagged"]
    assert rows[("P1", "combined")]["flagged"]
    assert rows[("P1", "combined")]["meaning"].startswith("the features together, weighted on P1's train part")


# ---------------------------------------------------------------- the generator's capture conditions


@pytest.mark.parametrize("seed", [0, 7, 123])
@pytest.mark.parametrize("subject", [1, 2, 5])
def test_every_attack_is_filmed_between_its_live_videos(seed, subject):
    lives, attacks = _captures(seed, subject)[:2], _captures(seed, subject)[2:]
    assert _captures(seed, subject) == lives + attacks  # deterministic
    hard = 0 if lives[0]["blur_sigma"] > lives[1]["blur_sigma"] else 1
    for key in CAPTURE_RANGES:
        low, high = sorted(live[key] for live in lives)
        assert 0 <= low <= 0.3 and 0.7 <= high <= 1
        for attack in attacks:
            assert low + 0.3 * (high - low) - 1e-12 <= attack[key] <= low + 0.7 * (high - low) + 1e-12
        if key in HARDER:  # one live video takes every harder end
            assert lives[hard][key] == (high if HARDER[key] else low), key


def test_the_sample_live_codes_span_the_attack_codes(clean_ingest, sample):
    by_subject: dict[int, dict[str, set]] = {}
    for video in sample.manifest.videos:
        if "face_leaves_frame" in " ".join(video.defects):
            continue
        codes = by_subject.setdefault(video.subject, {"live": set(), "attack": set()})
        codes["live" if video.attack_type == "live" else "attack"].add((video.medium, video.session))
    for subject, codes in by_subject.items():
        for index in (0, 1):  # medium, session
            live = sorted(code[index] for code in codes["live"])
            attack = [code[index] for code in codes["attack"]]
            assert live[0] <= min(attack) and max(attack) <= live[-1], (subject, index, codes)


# ---------------------------------------------------------------- the measures themselves


def test_face_and_background_photometry_equal_the_luma_of_their_pixels():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(120, 160, 3), dtype=np.uint8)
    grey = frame[..., 0] * 0.299 + frame[..., 1] * 0.587 + frame[..., 2] * 0.114
    assert luma(frame) == pytest.approx(grey, abs=1e-3)
    face = grey[30:70, 40:90]
    assert face_photometry(frame, [40, 30, 90, 70]) == pytest.approx((face.mean(), face.std()), rel=1e-5)
    assert face_photometry(frame, [40.4, 29.6, 89.6, 70.4]) == pytest.approx((face.mean(), face.std()), rel=1e-5)
    assert face_photometry(frame, None) is None
    assert face_photometry(frame, [200, 10, 260, 50]) is None  # outside the frame
    # a frame no larger than the shrunk size is measured as it is: everything outside the box
    outside = np.ones(grey.shape, dtype=bool)
    outside[30:70, 40:90] = False
    assert background_photometry(frame, [40, 30, 90, 70]) == pytest.approx(
        (grey[outside].mean(), grey[outside].std()), rel=1e-5
    )
    assert background_photometry(frame, None) == pytest.approx((grey.mean(), grey.std()), rel=1e-5)
    assert background_photometry(frame, [0, 0, 160, 120]) is None


def test_background_is_measured_on_a_shrunk_frame_where_grain_averages_out():
    # a 640x480 frame: a dark left half, a bright right half, fine +-20 grain everywhere, a face box of 0s
    frame = np.zeros((480, 640, 3), dtype=np.float32)
    frame[:, 320:] = 200.0
    frame[:, :320] = 60.0
    frame += np.where((np.indices((480, 640)).sum(axis=0) % 2)[..., None] == 0, 20.0, -20.0)
    frame[200:280, 280:360] = 0
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    brightness, contrast = background_photometry(frame, [280, 200, 360, 280])
    assert brightness == pytest.approx(130.0, abs=0.5)  # both halves, equally, without the face
    assert contrast == pytest.approx(70.0, abs=0.5)  # the halves' difference, not the grain
