"""register -> embed -> dedup on real faces: the photo registry and the SiW sample lake.

Real MTCNN, real dlib vectors, real FAISS, real Delta tables, each job through its CLI
with a real local Ray. The registries are made from the photos shipped in packages,
augmented (mirror, brightness, rotation, scale, JPEG re-encoding); their manifests say
which users are one person and which photo is filed under the wrong user.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from conftest import run_ingest_cli, run_job_cli, tree_digest
from etl.lake import Lake
from etl.query import load_query, run_query
from schemas import EMBEDDINGS, IDENTITY_MERGES, IDENTITY_PAIRS, LABEL_CHECKS, PHOTOS


@dataclass
class Registry:
    root: Path
    lake: Path
    manifest: object
    digest_before: dict
    logs: dict


def _build_registry(tmp_path_factory, name: str, **options) -> Registry:
    from etl.sample_photos import write_photo_registry

    base = tmp_path_factory.mktemp(name)
    root, lake = base / "photos", base / "lake"
    manifest = write_photo_registry(root, seed=3, **options)
    digest = tree_digest(root)
    logs = {
        "register": run_job_cli("register", "--source", str(root), "--lake", str(lake)).stderr,
        "embed": run_job_cli("embed", "--lake", str(lake), "--source", "photos").stderr,
        "dedup": run_job_cli("dedup", "--lake", str(lake), "--source", "photos").stderr,
    }
    return Registry(root=root, lake=lake, manifest=manifest, digest_before=digest, logs=logs)


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Registry:
    """One person (t1_face3) registered as user_03 and again as user_09."""
    return _build_registry(tmp_path_factory, "registry", duplicate=True)


@pytest.fixture(scope="module")
def mislabeled_registry(tmp_path_factory) -> Registry:
    """A photo of t1_face5 (user_05) filed under user_02; no duplicate user."""
    return _build_registry(tmp_path_factory, "mislabeled", duplicate=False, mislabeled=True)


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


def test_register_never_touches_the_source_tree(registry):
    assert tree_digest(registry.root) == registry.digest_before


def test_register_rerun_adds_nothing(registry, tmp_path):
    lake = Lake(str(registry.lake))
    version = lake.version(PHOTOS)
    log = run_job_cli("register", "--source", str(registry.root), "--lake", str(registry.lake)).stderr
    assert "0 processed" in log and f"{len(registry.manifest.photos)} unchanged" in log
    assert lake.version(PHOTOS) == version


def test_register_reprocesses_a_changed_photo_and_marks_a_gone_one(tmp_path):
    from etl.sample_photos import write_photo_registry

    root, lake_dir = tmp_path / "photos", tmp_path / "lake"
    write_photo_registry(root, seed=5, duplicate=False)
    for user in sorted(p.name for p in root.iterdir() if p.is_dir())[2:]:
        shutil.rmtree(root / user)  # two users keep the test short
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
    assert {k: v["run_id"] for k, v in after.items() if k not in ("user_02/01.jpg", "user_02/02.jpg")} == \
        {k: v["run_id"] for k, v in before.items() if k not in ("user_02/01.jpg", "user_02/02.jpg")}


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
    import hashlib

    assert vectors.column("aligned_sha").to_pylist() == [hashlib.md5(photos[k]).hexdigest() for k in singles]


def test_embed_rerun_adds_nothing(registry):
    lake = Lake(str(registry.lake))
    version = lake.version(EMBEDDINGS)
    log = run_job_cli("embed", "--lake", str(registry.lake), "--source", "photos").stderr
    assert "0 lacked a current vector" in log
    assert lake.version(EMBEDDINGS) == version


def test_embed_missing_model_file_is_a_clear_error(registry, tmp_path):
    missing = tmp_path / "nowhere" / "w600k_r50.onnx"
    log = run_job_cli("embed", "--lake", str(registry.lake), "--source", "photos", "--model", f"insightface:{missing}",
                      expect=2).stderr
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


def test_label_check_flags_the_photo_filed_under_the_wrong_user(mislabeled_registry):
    lake = Lake(str(mislabeled_registry.lake))
    suspects = run_query(lake, load_query("label_suspects")).to_pylist()
    planted = mislabeled_registry.manifest.mislabeled[0]
    assert suspects[0]["face_key"] == planted  # the most suspect face
    assert suspects[0]["identity"] == "user_02" and suspects[0]["nearest_other_identity"] == "user_05"
    assert suspects[0]["max_negative"] > 0.95 > suspects[0]["min_positive"]
    # the notes' rule links the two users through that one photo; the report says so
    assert f"CHECK user_02 ~ user_05 rests on a single face ({planted})" in mislabeled_registry.logs["dedup"]


def test_min_faces_keeps_a_single_misfiled_photo_from_merging_two_users(mislabeled_registry, tmp_path):
    lake_dir = tmp_path / "lake"
    shutil.copytree(mislabeled_registry.lake, lake_dir)
    lake = Lake(str(lake_dir))
    assert sorted(lake.read(IDENTITY_MERGES).column("identity").to_pylist()) == ["user_02", "user_05"]
    run_job_cli("dedup", "--lake", str(lake_dir), "--min-faces", "2")
    assert lake.read(IDENTITY_MERGES).num_rows == 0
    suspects = run_query(lake, load_query("label_suspects")).to_pylist()
    assert suspects[0]["face_key"] == mislabeled_registry.manifest.mislabeled[0]


def test_undo_keeps_a_merge_undone_across_reruns(registry, tmp_path):
    lake_dir = tmp_path / "lake"
    shutil.copytree(registry.lake, lake_dir)
    lake = Lake(str(lake_dir))
    run_job_cli("dedup", "--lake", str(lake_dir), "--undo", "user_09")
    assert set(lake.read(IDENTITY_MERGES).column("state").to_pylist()) == {"undone"}
    resolved = {r["identity"]: r["canonical_id"] for r in run_query(lake, load_query("resolved_identities")).to_pylist()}
    assert resolved["user_09"] == "user_09"
    log = run_job_cli("dedup", "--lake", str(lake_dir)).stderr
    assert "1 groups kept undone" in log
    assert set(lake.read(IDENTITY_MERGES).column("state").to_pylist()) == {"undone"}
    run_job_cli("dedup", "--lake", str(lake_dir), "--restore", "user_09")
    resolved = {r["identity"]: r["canonical_id"] for r in run_query(lake, load_query("resolved_identities")).to_pylist()}
    assert resolved["user_09"] == "user_03" and resolved["user_03"] == "user_03"


def test_dedup_refuses_unknown_model_and_leakage_on_photos(registry):
    log = run_job_cli("dedup", "--lake", str(registry.lake), "--model", "keras:nope", expect=2).stderr
    assert "no photos vectors of model 'keras:nope'" in log and "dlib_resnet_v1" in log
    log = run_job_cli("dedup", "--lake", str(registry.lake), "--leakage", expect=2).stderr
    assert "--source frames" in log


# ---------------------------------------------------------------- frames: leakage between splits


def test_leakage_finds_a_test_subject_who_is_a_training_subject(sample, clean_ingest, tmp_path):
    """Subject 001 (Train) filmed again as a Test subject 003: a leak under another id."""
    lake_dir = tmp_path / "lake"
    shutil.copytree(clean_ingest.lake, lake_dir)
    extra = tmp_path / "extra"
    live = sorted((sample.root / "Train" / "live" / "001").glob("*.mov"))[0]
    target = extra / "Test" / "live" / "003"
    target.mkdir(parents=True)
    new_stem = "003" + live.stem[3:]
    shutil.copy(live, target / f"{new_stem}.mov")
    shutil.copy(live.with_suffix(".face"), target / f"{new_stem}.face")
    run_ingest_cli(extra, lake_dir)
    run_job_cli("embed", "--lake", str(lake_dir), "--source", "frames", "--every-k", "4")
    lake = Lake(str(lake_dir))
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
            sum(1 for r in mine.values() if r == route) for route in ("single", "multi", "none"))
        assert row["failed"] == 0 and row["gone"] == 0
        assert row["second_pass"] == sum(1 for pid in registry.manifest.second_pass if pid.startswith(f"{user}/"))


def test_merge_groups_query_lists_the_group(registry):
    rows = run_query(Lake(str(registry.lake)), load_query("merge_groups")).to_pylist()
    assert [(r["group_id"], r["canonical_id"], r["members"], r["group_size"], r["state"]) for r in rows] == [
        ("photos:user_03", "user_03", "user_03, user_09", 2, "active")]


def test_embed_with_a_second_model_keeps_both_and_dedup_asks_which(registry, tmp_path):
    """A FAKE ArcFace ONNX (no real weights exist here) through the real job: 512-d vectors
    beside the dlib ones, equal to the model's own numpy forward on the stored faces."""
    from etl.encode import decode_image
    from fake_face_models import fake_arcface_reference, write_fake_arcface_onnx

    lake_dir = tmp_path / "lake"
    shutil.copytree(registry.lake, lake_dir)
    model_file = write_fake_arcface_onnx(tmp_path / "fake_arcface_r0.onnx")
    model = f"insightface:{model_file}"
    # --where filters the source table: only two users first, then the rest incrementally
    run_job_cli("embed", "--lake", str(lake_dir), "--source", "photos", "--model", model,
                "--where", "\"user\" IN ('user_01', 'user_03')")
    lake = Lake(str(lake_dir))
    singles = sorted(pid for pid, route in registry.manifest.routes.items() if route == "single")
    first = lake.read(EMBEDDINGS).filter(pc.starts_with(pc.field("model"), "insightface:"))
    assert sorted(first.column("face_key").to_pylist()) == [k for k in singles if k.split("/")[0] in ("user_01", "user_03")]
    log = run_job_cli("embed", "--lake", str(lake_dir), "--source", "photos", "--model", model).stderr
    assert f"{len(singles) - first.num_rows} lacked a current vector" in log
    log = run_job_cli("embed", "--lake", str(lake_dir), "--source", "photos", "--model", model,
                      "--where", "no_such_column = 1", expect=2).stderr
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
