"""register -> embed -> dedup on real faces: the photo registry and the SiW sample lake.

Real MTCNN, real dlib vectors, real FAISS, real Delta tables, each job through its CLI
with a real local Ray. The registry is made from the photos shipped in packages,
augmented (mirror, brightness, rotation, scale, JPEG re-encoding); its manifest says
which users are one person and which photo is filed under the wrong user.

`registry` (conftest) is the session's registered, embedded and deduplicated lake: tests
here read it, and copy it (`registry_copy`) to run a job on it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
from conftest import REGISTRY_ARGS, run_ingest_cli, run_job_cli, tree_digest

from etl.lake.lake import Lake
from etl.lake.query import load_query, run_query
from schemas import EMBEDDINGS, FRAMES, IDENTITY_MERGES, IDENTITY_PAIRS, LABEL_CHECKS, PHOTOS, RUNS


@pytest.fixture
def registry_copy(registry, tmp_path) -> Path:
    """A copy of the shared registry lake, for a test that runs a job on it."""
    shutil.copytree(registry.lake, tmp_path / "lake")
    return tmp_path / "lake"


@dataclass
class Mislabeled:
    root: Path
    lake: Path
    planted: str  # the photo id filed under the wrong user
    logs: dict


@pytest.fixture(scope="module")
def mislabeled_registry(registry, tmp_path_factory) -> Mislabeled:
    """The shared registry, then a photo of t1_face5 (user_05) filed under user_02: registered, embedded and
    deduplicated incrementally on a copy of the shared lake (so user_03 ~ user_09 is there too)."""
    from etl.synthetic.photo_registry import write_photo_registry

    base = tmp_path_factory.mktemp("mislabeled")
    root, lake = base / "photos", base / "lake"
    shutil.copytree(registry.root, root)
    shutil.copytree(registry.lake, lake)
    # the generator's misfiled photo: the same registry written with mislabeled=True holds it besides the same users
    planted = write_photo_registry(base / "generated", **REGISTRY_ARGS, mislabeled=True).mislabeled
    assert len(planted) == 1 and not (root / planted[0]).exists()
    shutil.copyfile(base / "generated" / planted[0], root / planted[0])
    logs = {
        "register": run_job_cli("register", "--source", str(root), "--lake", str(lake)).stderr,
        "embed": run_job_cli("embed", "--lake", str(lake), "--source", "photos").stderr,
        "dedup": run_job_cli("dedup", "--lake", str(lake), "--source", "photos").stderr,
    }
    assert "1 processed" in logs["register"] and "1 lacked a current vector" in logs["embed"]
    return Mislabeled(root=root, lake=lake, planted=planted[0], logs=logs)


# ---------------------------------------------------------------- register


def test_register_routes_every_photo_as_planted(registry):
    photos = Lake(str(registry.lake)).read(PHOTOS).sort_by("photo_id")
    assert photos.column("photo_id").to_pylist() == sorted(registry.manifest.photos)
    routes = dict(zip(photos.column("photo_id").to_pylist(), photos.column("route").to_pylist()))
    assert routes == registry.manifest.routes
    by_id = {r["photo_id"]: r for r in photos.to_pylist()}
    assert by_id["user_04/group.jpg"]["n_faces"] == 6 and by_id["user_04/group.jpg"]["aligned"] is None
    assert len(by_id["user_04/group.jpg"]["face_boxes"]) == 6
    assert by_id["user_01/wall.jpg"]["n_faces"] == 0 and "no face" in by_id["user_01/wall.jpg"]["route_reason"]
    second = sorted(pid for pid, r in by_id.items() if r["detect_pass"] == "second")
    assert second == registry.manifest.second_pass
    singles = [r for r in by_id.values() if r["route"] == "single"]
    assert all(r["aligned"][:8] == b"\x89PNG\r\n\x1a\n" and len(r["landmarks"]) == 5 for r in singles)
    assert all(r["status"] == "ok" and r["source_present"] for r in by_id.values())
    # every photo went through a Ray task on this machine's one local node, no GPU
    places = {
        (r["processed_on"]["node_id"], r["processed_on"]["host"], len(r["processed_on"]["gpus"]))
        for r in by_id.values()
    }
    assert len(places) == 1 and places.pop()[1:] == (socket.gethostname(), 0)


def test_register_workers_write_the_photos_and_the_driver_receives_no_image(registry):
    """The shared register ran under tests/driver_bytes_probe.py: no image reached its driver, while every single-face
    photo's aligned face is in the lake."""
    assert registry.register_driver_payloads == []
    photos = Lake(str(registry.lake)).read(PHOTOS, columns=["route", "aligned"])
    aligned = [
        png
        for route, png in zip(photos.column("route").to_pylist(), photos.column("aligned").to_pylist())
        if route == "single"
    ]
    assert len(aligned) >= 5 and all(png and png[:8] == b"\x89PNG\r\n\x1a\n" for png in aligned)


def test_register_never_touches_the_source_tree(registry):
    assert tree_digest(registry.root) == registry.digest_before


def test_register_rerun_adds_nothing(registry, registry_copy):
    lake = Lake(str(registry_copy))
    version = lake.version(PHOTOS)
    log = run_job_cli("register", "--source", str(registry.root), "--lake", str(registry_copy)).stderr
    assert "0 processed" in log and f"{len(registry.manifest.photos)} unchanged" in log
    assert lake.version(PHOTOS) == version


def test_register_reprocesses_a_changed_photo_and_marks_a_gone_one(registry_tree, tmp_path):
    root, lake_dir = tmp_path / "photos", tmp_path / "lake"
    for user in ("user_01", "user_02"):  # two users of the shared registry keep the test short
        shutil.copytree(registry_tree.root / user, root / user)
    run_job_cli("register", "--source", str(root), "--lake", str(lake_dir), "--retry-detector", "none")
    lake = Lake(str(lake_dir))
    before = {r["photo_id"]: r for r in lake.read(PHOTOS).to_pylist()}
    (root / "user_02" / "01.jpg").write_bytes((root / "user_01" / "01.jpg").read_bytes())
    (root / "user_02" / "02.jpg").unlink()
    log = run_job_cli("register", "--source", str(root), "--lake", str(lake_dir), "--retry-detector", "none").stderr
    assert "1 processed" in log and "1 gone from source" in log
    after = {r["photo_id"]: r for r in lake.read(PHOTOS).to_pylist()}
    assert sorted(after) == sorted(before)  # nothing deleted, nothing added
    assert after["user_02/01.jpg"]["fingerprint"] != before["user_02/01.jpg"]["fingerprint"]
    assert after["user_02/01.jpg"]["aligned"] != before["user_02/01.jpg"]["aligned"]
    assert after["user_02/02.jpg"]["source_present"] is False
    assert {k: v["run_id"] for k, v in after.items() if k not in ("user_02/01.jpg", "user_02/02.jpg")} == {
        k: v["run_id"] for k, v in before.items() if k not in ("user_02/01.jpg", "user_02/02.jpg")
    }


# ---------------------------------------------------------------- embed


def test_embed_writes_one_unit_dlib_vector_per_single_face(registry):
    lake = Lake(str(registry.lake))
    vectors = lake.read(EMBEDDINGS).sort_by("face_key")
    singles = sorted(pid for pid, route in registry.manifest.routes.items() if route == "single")
    assert vectors.column("face_key").to_pylist() == singles
    assert set(vectors.column("model").to_pylist()) == {"dlib_resnet_v1"}
    assert set(vectors.column("dim").to_pylist()) == {128}
    assert vectors.column("identity").to_pylist() == [pid.split("/")[0] for pid in singles]
    matrix = np.array(vectors.column("vector").to_pylist(), dtype=np.float32)
    assert matrix.shape == (len(singles), 128)
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    photos = {r["photo_id"]: r["aligned"] for r in lake.read(PHOTOS, columns=["photo_id", "aligned"]).to_pylist()}
    assert vectors.column("aligned_sha").to_pylist() == [hashlib.md5(photos[k]).hexdigest() for k in singles]


def test_embed_rerun_adds_nothing(registry_copy):
    lake = Lake(str(registry_copy))
    version = lake.version(EMBEDDINGS)
    log = run_job_cli("embed", "--lake", str(registry_copy), "--source", "photos").stderr
    assert "0 lacked a current vector" in log
    assert lake.version(EMBEDDINGS) == version


def test_embed_missing_model_file_is_a_clear_error(registry_copy, tmp_path):
    missing = tmp_path / "nowhere" / "w600k_r50.onnx"
    log = run_job_cli(
        "embed", "--lake", str(registry_copy), "--source", "photos", "--model", f"insightface:{missing}", expect=2
    ).stderr
    assert str(missing) in log


# ---------------------------------------------------------------- dedup


def test_dedup_merges_exactly_the_person_registered_twice(registry):
    lake = Lake(str(registry.lake))
    merges = lake.read(IDENTITY_MERGES)
    assert sorted(merges.column("identity").to_pylist()) == registry.manifest.duplicate_users
    assert set(merges.column("canonical_id").to_pylist()) == {"user_03"}  # 3 faces each: smallest name
    assert set(merges.column("state").to_pylist()) == {"active"}
    pairs = lake.read(IDENTITY_PAIRS)
    linked = pairs.filter(pc.field("linked"))
    assert [(r["first"], r["second"]) for r in linked.to_pylist()] == [("user_03", "user_09")]
    row = linked.to_pylist()[0]
    assert (row["decision"], row["lone_faces"]) == ("merged", [])
    assert row["max_similarity"] > 0.93 and row["pairs_above"] >= 1 and row["face_pairs"] == 9
    assert row["example_pairs"][0]["first_key"].startswith("user_03/")
    # the notes' printed form, and the same answer as a query
    assert "First: user_03, Second: user_09, Max dist:" in registry.logs["dedup"]
    table = run_query(lake, load_query("identity_pairs"))
    top = table.to_pylist()[0]
    assert (top["first"], top["second"], top["linked"]) == ("user_03", "user_09", True)
    assert sum(table.column("linked").to_pylist()) == 1


def test_clean_registry_has_no_label_suspects(registry):
    checks = Lake(str(registry.lake)).read(LABEL_CHECKS)
    singles = [pid for pid, route in registry.manifest.routes.items() if route == "single"]
    assert checks.num_rows == len(singles)
    assert sum(checks.column("suspect").to_pylist()) == 0
    # after the merge, user_09's faces are checked as user_03's
    identities = dict(zip(checks.column("face_key").to_pylist(), checks.column("identity").to_pylist()))
    assert {identities[k] for k in identities if k.startswith("user_09/")} == {"user_03"}


def test_label_check_flags_the_photo_filed_under_the_wrong_user_and_nothing_else(mislabeled_registry):
    lake = Lake(str(mislabeled_registry.lake))
    suspects = run_query(lake, load_query("label_suspects")).to_pylist()
    planted = mislabeled_registry.planted
    # the misfiled photo is the only suspect: no genuine photo of user_02 (filed with it) or of user_05
    # (its true person, whose faces find it as their nearest other face) is dragged in
    assert [row["face_key"] for row in suspects] == [planted]
    top = suspects[0]
    assert (top["identity"], top["nearest_other_centroid"], top["nearest_other_identity"]) == ("user_02",) + (
        "user_05",
    ) * 2
    assert top["other_centroid"] > top["own_centroid"] + 0.02 and top["suspect_score"] > 0.05
    assert top["max_negative"] > 0.95 > top["min_positive"]  # the notes' evidence, beside the verdict
    checks = lake.read(LABEL_CHECKS).to_pylist()
    dragged = sorted(r["face_key"] for r in checks if r["face_suspect"] and r["face_key"] != planted)
    assert dragged and {k.split("/")[0] for k in dragged} <= {"user_02", "user_05"}  # what the notes' rule flags
    assert all(r["suspect_score"] < 0 for r in checks if r["face_key"] != planted and r["suspect_score"] is not None)


def test_a_single_misfiled_photo_is_a_review_candidate_not_a_merge(registry, mislabeled_registry, tmp_path):
    lake = Lake(str(mislabeled_registry.lake))
    planted, duplicate = mislabeled_registry.planted, registry.manifest.duplicate_users
    # by default: the person registered twice (3 faces a side) merges, the one misfiled photo does not
    assert sorted(lake.read(IDENTITY_MERGES).column("identity").to_pylist()) == sorted(duplicate)
    pairs = {(r["first"], r["second"]): r for r in lake.read(IDENTITY_PAIRS).to_pylist() if r["kind"] == "duplicate"}
    assert (pairs[("user_02", "user_05")]["decision"], pairs[("user_02", "user_05")]["lone_faces"]) == (
        "review",
        [planted],
    )
    assert pairs[("user_03", "user_09")]["decision"] == "merged" and pairs[("user_03", "user_09")]["lone_faces"] == []
    assert {
        r["decision"] for key, r in pairs.items() if key not in {("user_02", "user_05"), ("user_03", "user_09")}
    } <= {"not_linked"}
    log = mislabeled_registry.logs["dedup"]
    assert f"CHECK user_02 ~ user_05 rests on a single face ({planted})" in log
    assert "Not merged: a review candidate." in log and "1 linked, 1 for review" in log
    # --min-faces 1, the notes' rule, merges the two users through that one photo
    lake_dir = tmp_path / "lake"
    shutil.copytree(mislabeled_registry.lake, lake_dir)
    log = run_job_cli("dedup", "--lake", str(lake_dir), "--min-faces", "1").stderr
    assert "Merged (min_faces 1)." in log
    assert sorted(Lake(str(lake_dir)).read(IDENTITY_MERGES).column("identity").to_pylist()) == sorted(
        ["user_02", "user_05", *duplicate]
    )
    suspects = run_query(Lake(str(lake_dir)), load_query("label_suspects")).to_pylist()
    assert [row["face_key"] for row in suspects] == [planted]  # checked across the single-face link still


def test_ivf_dedup_with_every_list_probed_agrees_with_the_exact_one(mislabeled_registry, tmp_path):
    """--index ivf serves the label checks too; probing every list is exact, so nothing may differ from flat."""
    lake_dir = tmp_path / "lake"
    shutil.copytree(mislabeled_registry.lake, lake_dir)
    lake = Lake(str(lake_dir))
    columns = ["identity", "face_key", "min_positive", "max_negative", "nearest_other_key", "suspect"]
    flat_checks = lake.read(LABEL_CHECKS, columns=columns).sort_by("face_key")
    flat_merges = sorted(lake.read(IDENTITY_MERGES).column("identity").to_pylist())
    log = run_job_cli("dedup", "--lake", str(lake_dir), "--index", "ivf", "--nprobe", "0", expect=2).stderr
    assert "nprobe must be an int >= 1, got 0" in log
    run_job_cli("dedup", "--lake", str(lake_dir), "--index", "ivf", "--nprobe", "4096")
    ivf_checks = lake.read(LABEL_CHECKS, columns=columns).sort_by("face_key")
    assert ivf_checks.num_rows == flat_checks.num_rows > 0
    assert ivf_checks.drop(["min_positive", "max_negative"]).equals(flat_checks.drop(["min_positive", "max_negative"]))
    for name in ("min_positive", "max_negative"):
        assert np.allclose(
            ivf_checks.column(name).to_numpy(zero_copy_only=False),
            flat_checks.column(name).to_numpy(zero_copy_only=False),
            atol=1e-12,
            equal_nan=True,
        )
    assert sorted(lake.read(IDENTITY_MERGES).column("identity").to_pylist()) == flat_merges
    runs = sorted(
        (r for r in lake.read(RUNS, columns=["job", "started_at", "args_json"]).to_pylist() if r["job"] == "dedup"),
        key=lambda r: r["started_at"],
    )
    assert json.loads(runs[-1]["args_json"])["config"]["nprobe"] == 4096


def test_undo_keeps_a_merge_undone_across_reruns(registry_copy):
    lake_dir = registry_copy
    lake = Lake(str(lake_dir))
    run_job_cli("dedup", "--lake", str(lake_dir), "--undo", "user_09")
    assert set(lake.read(IDENTITY_MERGES).column("state").to_pylist()) == {"undone"}
    resolved = {
        r["identity"]: r["canonical_id"] for r in run_query(lake, load_query("resolved_identities")).to_pylist()
    }
    assert resolved["user_09"] == "user_09"
    log = run_job_cli("dedup", "--lake", str(lake_dir)).stderr
    assert "1 groups kept undone" in log
    assert set(lake.read(IDENTITY_MERGES).column("state").to_pylist()) == {"undone"}
    run_job_cli("dedup", "--lake", str(lake_dir), "--restore", "user_09")
    resolved = {
        r["identity"]: r["canonical_id"] for r in run_query(lake, load_query("resolved_identities")).to_pylist()
    }
    assert resolved["user_09"] == "user_03" and resolved["user_03"] == "user_03"


def test_dedup_refuses_unknown_model_and_leakage_on_photos(registry_copy):
    log = run_job_cli("dedup", "--lake", str(registry_copy), "--model", "keras:nope", expect=2).stderr
    assert "no photos vectors of model 'keras:nope'" in log and "dlib_resnet_v1" in log
    log = run_job_cli("dedup", "--lake", str(registry_copy), "--leakage", expect=2).stderr
    assert "--source frames" in log


# ---------------------------------------------------------------- frames: leakage between splits


def _another_recording(sample, subject: int, target: Path, stem: str) -> Path:
    """A new live recording of `subject`'s person, rendered by the sample generator in another session:
    its own background, motion, lighting and sensor noise (another random stream); `.face` beside it."""
    from etl.synthetic.face_photos import load_face_photos, photo_variant
    from etl.synthetic.siw_tree import write_video
    from etl.synthetic.videos import render_video

    manifest = sample.manifest
    [photo_name] = {v.photo for v in manifest.videos if v.subject == subject}  # e.g. "t1_face1" or "t1_face1~v1"
    name, _, variant = photo_name.partition("~v")
    photo = photo_variant(next(p for p in load_face_photos() if p.name == name), variant=int(variant or 0))
    rng = np.random.default_rng([manifest.seed, 1000 + subject])  # the sample's videos use [seed, 0..N-1]
    frames = list(
        render_video(
            photo,
            kind="live",
            n_frames=round(manifest.seconds * manifest.fps),
            rng=rng,
            fps=manifest.fps,
            frame_size=manifest.frame_size,
        )
    )
    target.mkdir(parents=True)
    video = target / f"{stem}.mov"
    write_video(video, [f.image for f in frames], fps=manifest.fps, frame_size=manifest.frame_size)
    video.with_suffix(".face").write_text(
        "".join(" ".join(map(str, f.face_box)) + "\n" if f.face_box else "0 0 0 0\n" for f in frames)
    )
    return video


def test_leakage_finds_a_test_subject_who_is_a_training_subject(sample, clean_ingest, tmp_path):
    """Subject 001 (Train) filmed again, in another session, as Test subject 003: a leak under another id."""
    lake_dir = tmp_path / "lake"
    shutil.copytree(clean_ingest.lake, lake_dir)
    extra = tmp_path / "extra"
    train_subject = 1
    assert {v.split for v in sample.manifest.videos if v.subject == train_subject} == {"train"}
    assert all(v.subject != 3 for v in sample.manifest.videos)
    planted = _another_recording(sample, train_subject, extra / "Test" / "live" / "003", "003-2-1-1-3")
    # a different recording, not a copy: no training video has its bytes
    train_videos = [sample.root / v.path for v in sample.manifest.videos if v.split == "train"]
    digest = hashlib.sha256(planted.read_bytes()).hexdigest()
    assert train_videos and all(hashlib.sha256(v.read_bytes()).hexdigest() != digest for v in train_videos)
    run_ingest_cli(extra, lake_dir)
    lake = Lake(str(lake_dir))
    # nor any of its aligned faces: every frame of it is new
    frames = lake.read(FRAMES, columns=["video_id", "split", "aligned"]).to_pylist()
    planted_faces = {f["aligned"] for f in frames if f["video_id"].startswith("Test/live/003/") and f["aligned"]}
    train_faces = {f["aligned"] for f in frames if f["split"] == "train" and f["aligned"]}
    assert len(planted_faces) >= 20 and not planted_faces & train_faces
    run_job_cli("embed", "--lake", str(lake_dir), "--source", "frames", "--every-k", "4")
    keys = lake.read(EMBEDDINGS, columns=["frame_index"]).column("frame_index").to_pylist()
    assert keys and all(k % 4 == 0 for k in keys)
    log = run_job_cli("dedup", "--lake", str(lake_dir), "--source", "frames", "--leakage").stderr
    leaks = run_query(lake, load_query("split_leakage")).to_pylist()
    assert [(r["test_identity"], r["train_identity"]) for r in leaks] == [("003", "001")]
    assert "LEAK test 003 ~ train 001" in log
    merges = lake.read(IDENTITY_MERGES)
    assert sorted(merges.column("identity").to_pylist()) == ["001", "003"]


def test_photo_routes_query_counts_per_user(registry):
    rows = {r["user"]: r for r in run_query(Lake(str(registry.lake)), load_query("photo_routes")).to_pylist()}
    assert sorted(rows) == sorted(registry.manifest.users)
    for user, row in rows.items():
        mine = {pid: route for pid, route in registry.manifest.routes.items() if pid.startswith(f"{user}/")}
        assert row["photos"] == len(mine)
        assert (row["single"], row["multi"], row["none"]) == tuple(
            sum(1 for r in mine.values() if r == route) for route in ("single", "multi", "none")
        )
        assert row["failed"] == 0 and row["gone"] == 0
        assert row["second_pass"] == sum(1 for pid in registry.manifest.second_pass if pid.startswith(f"{user}/"))


def test_merge_groups_query_lists_the_group(registry):
    rows = run_query(Lake(str(registry.lake)), load_query("merge_groups")).to_pylist()
    assert [(r["group_id"], r["canonical_id"], r["members"], r["group_size"], r["state"]) for r in rows] == [
        ("photos:user_03", "user_03", "user_03, user_09", 2, "active")
    ]


def test_embed_with_a_second_model_keeps_both_and_dedup_asks_which(registry, registry_copy, tmp_path):
    """A FAKE ArcFace ONNX (no real weights exist here) through the real job: 512-d vectors
    beside the dlib ones, equal to the model's own numpy forward on the stored faces."""
    from fake_face_models import fake_arcface_reference, write_fake_arcface_onnx

    from etl.faces.encode import decode_image

    lake_dir = registry_copy
    model_file = write_fake_arcface_onnx(tmp_path / "fake_arcface_r0.onnx")
    model = f"insightface:{model_file}"
    # --where filters the source table: only two users first, then the rest incrementally
    run_job_cli(
        "embed",
        "--lake",
        str(lake_dir),
        "--source",
        "photos",
        "--model",
        model,
        "--where",
        "\"user\" IN ('user_01', 'user_03')",
    )
    lake = Lake(str(lake_dir))
    singles = sorted(pid for pid, route in registry.manifest.routes.items() if route == "single")
    first = lake.read(EMBEDDINGS).filter(pc.starts_with(pc.field("model"), "insightface:"))
    assert sorted(first.column("face_key").to_pylist()) == [
        k for k in singles if k.split("/")[0] in ("user_01", "user_03")
    ]
    log = run_job_cli("embed", "--lake", str(lake_dir), "--source", "photos", "--model", model).stderr
    assert f"{len(singles) - first.num_rows} lacked a current vector" in log
    log = run_job_cli(
        "embed",
        "--lake",
        str(lake_dir),
        "--source",
        "photos",
        "--model",
        model,
        "--where",
        "no_such_column = 1",
        expect=2,
    ).stderr
    assert "--where" in log and "no_such_column" in log
    vectors = lake.read(EMBEDDINGS)
    models = sorted(set(vectors.column("model").to_pylist()))
    assert len(models) == 2 and models[0] == "dlib_resnet_v1" and models[1].startswith("insightface:fake_arcface_r0@")
    fake = vectors.filter(pc.equal(vectors.column("model"), models[1])).sort_by("face_key")
    assert set(fake.column("dim").to_pylist()) == {512}
    photos = {r["photo_id"]: r["aligned"] for r in lake.read(PHOTOS, columns=["photo_id", "aligned"]).to_pylist()}
    faces = [decode_image(photos[k]) for k in fake.column("face_key").to_pylist()]
    expected = fake_arcface_reference(faces)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(np.array(fake.column("vector").to_pylist()), expected, atol=1e-4)
    log = run_job_cli("dedup", "--lake", str(lake_dir), expect=2).stderr
    assert "2 models" in log and "pass --model" in log
