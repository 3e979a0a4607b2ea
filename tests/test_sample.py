"""Tests of the synthetic SiW sample generator: layout, planted defects, determinism,
and that the real faces in it are found by the real MTCNN detector."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from etl.synthetic.face_photos import load_face_photos, photo_variant
from etl.synthetic.siw_tree import MANIFEST_NAME, SampleManifest, SampleVideo, write_sample_tree
from etl.synthetic.videos import CAPTURE_RANGES, placement, project_box

SUBJECTS = 2
SECONDS = 1.0
FPS = 30
N_FRAMES = 30
WIDTH, HEIGHT = 640, 480
NAME = re.compile(
    r"^(?P<split>Train|Test)/(?P<label>live|spoof)/(?P<sss>\d{3})/(?P=sss)-[12]-(?P<type>[123])-[1-4]-[1-3](\.m)?\.mov$"
)
PHOTO_NAMES = [f"t1_face{i}" for i in range(1, 7)] + ["astronaut", "tom_hanks"]


# ------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleManifest]:
    root = tmp_path_factory.mktemp("siw_sample")
    manifest = write_sample_tree(root, subjects=SUBJECTS, seconds=SECONDS, seed=0, fps=FPS)
    return root, manifest


@pytest.fixture(scope="session")
def detector():
    import mtcnn

    return mtcnn.MTCNN()


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _best_box(detections: list[dict]) -> tuple[float, float, float, float] | None:
    if not detections:
        return None
    x, y, w, h = max(detections, key=lambda d: d["confidence"])["box"]
    return (x, y, x + w, y + h)


def _read_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        while cap.isOpened():
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        cap.release()
    return frames


def _one(manifest: SampleManifest, prefix: str) -> SampleVideo:
    videos = manifest.by_defect(prefix)
    assert len(videos) == 1, f"{prefix}: {[v.path for v in videos]}"
    return videos[0]


def _face_text(root: Path, video: SampleVideo) -> list[str]:
    raw = (root / video.face_path).read_bytes()
    assert b"\r" not in raw and (not raw or raw.endswith(b"\n"))
    return raw.decode("ascii").split("\n")[:-1]


# ---------------------------------------------------------------- layout


def test_file_counts_and_names(tree):
    root, manifest = tree
    movs = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.mov"))
    faces = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.face"))
    assert len(movs) == len(faces) == 6 * SUBJECTS + 1
    assert sorted(v.path for v in manifest.videos) == movs
    assert sorted(v.face_path for v in manifest.videos) == faces
    assert [p for p in movs if p.endswith(".m.mov")] == ["Test/spoof/002/002-1-3-4-1.m.mov"]
    assert not [p for p in faces if p.endswith(".m.face")]
    assert sorted(p.name for p in root.iterdir()) == ["Test", "Train", MANIFEST_NAME]

    split_of: dict[str, set[str]] = {}
    for rel in movs:
        m = NAME.match(rel)
        assert m, rel
        assert (m["label"] == "live") == (m["type"] == "1"), rel
        split_of.setdefault(m["sss"], set()).add(m["split"])
        stem = rel[: -len(".m.mov")] if rel.endswith(".m.mov") else rel[: -len(".mov")]
        assert (root / f"{stem}.face").is_file(), rel
    assert split_of == {"001": {"Train"}, "002": {"Test"}}  # a subject lives in one split

    kinds = Counter((v.subject, v.attack_type) for v in manifest.videos)
    assert kinds == {
        (1, "live"): 3, (1, "print"): 2, (1, "replay"): 2,
        (2, "live"): 2, (2, "print"): 2, (2, "replay"): 2,
    }  # fmt: skip
    assert {v.medium for v in manifest.videos if v.attack_type == "replay"} == {1, 2, 3, 4}
    assert {v.medium for v in manifest.videos if v.attack_type == "print"} == {1, 2}
    # live codes span each subject's attack codes (no code shortcut): medium 1 and its highest replay medium,
    # sessions 1 and 3 (the extra live video of subject 1 takes session 2)
    for subject in (1, 2):
        live = [
            v
            for v in manifest.videos
            if v.subject == subject
            and v.attack_type == "live"
            and not any(d.startswith("face_leaves_frame") for d in v.defects)
        ]
        highest = max(v.medium for v in manifest.videos if v.subject == subject and v.attack_type == "replay")
        assert sorted(v.medium for v in live) == [1, highest], subject
        assert sorted(v.session for v in live) == [1, 3], subject
    assert [v.photo for v in manifest.videos[:12:6]] == ["t1_face1", "t1_face2"]
    assert all(v.same_person_as == [] for v in manifest.videos)


def test_manifest_round_trip(tree):
    root, manifest = tree
    text = (root / MANIFEST_NAME).read_text()
    assert text == manifest.to_json()
    assert SampleManifest.from_json(text) == manifest


# ---------------------------------------------------------------- defects


def test_each_defect_planted_once_in_distinct_videos(tree):
    _, manifest = tree
    prefixes = ["face_missing_number", "face_zero_box", "face_short", "m_mov_name", "face_leaves_frame", "truncated"]
    carriers = [_one(manifest, p).path for p in prefixes]
    assert len(set(carriers)) == len(prefixes)
    assert sum(len(v.defects) for v in manifest.videos) == len(prefixes)


def test_missing_number_is_a_double_space(tree):
    root, manifest = tree
    video = _one(manifest, "face_missing_number")
    assert (video.split, video.attack_type) == ("train", "live")
    line_no = int(video.defects[0].split("=")[1])
    lines = _face_text(root, video)
    x1, _, x2, y2 = video.true_boxes[line_no - 1]
    assert lines[line_no - 1] == f"{x1}  {x2} {y2}"
    assert len(lines[line_no - 1].split(" ")) == 4 and len(lines[line_no - 1].split()) == 3
    others = [line for i, line in enumerate(lines) if i != line_no - 1]
    assert all(re.fullmatch(r"\d+ \d+ \d+ \d+", line) for line in others)


def test_zero_box_while_face_visible(tree):
    root, manifest = tree
    video = _one(manifest, "face_zero_box")
    assert video.attack_type == "live"
    line_no = int(video.defects[0].split("=")[1])
    assert _face_text(root, video)[line_no - 1] == "0 0 0 0"
    assert video.true_boxes[line_no - 1] is not None
    assert all(b is not None for b in video.true_boxes)


def test_short_face_file(tree):
    root, manifest = tree
    video = _one(manifest, "face_short")
    assert video.label == "spoof"
    assert video.defects == [f"face_short:lines={N_FRAMES - 5}"]
    assert video.face_lines == N_FRAMES - 5 == len(_face_text(root, video))
    assert video.frames == N_FRAMES


def test_m_mov_name_keeps_plain_face_stem(tree):
    root, manifest = tree
    video = _one(manifest, "m_mov_name")
    assert video.split == "test" and video.path.endswith(".m.mov")
    assert video.face_path == video.path[: -len(".m.mov")] + ".face"
    assert (root / video.face_path).is_file()


def test_face_leaves_the_frame(tree):
    root, manifest = tree
    video = _one(manifest, "face_leaves_frame")
    assert (video.split, video.attack_type, video.subject) == ("train", "live", 1)
    assert len({(v.subject, v.sensor, v.type_id, v.medium, v.session) for v in manifest.videos}) == len(manifest.videos)
    gone = int(video.defects[0].split("=")[1])
    assert N_FRAMES // 2 < gone < N_FRAMES
    boxes = video.true_boxes
    assert all(b is not None for b in boxes[:gone]) and all(b is None for b in boxes[gone:])
    # Just before it is gone the box is clipped at the frame edge.
    x1, _, x2, _ = boxes[gone - 1]
    assert x1 == 0 or x2 == WIDTH - 1
    assert _face_text(root, video)[gone:] == ["0 0 0 0"] * (N_FRAMES - gone)


def test_truncated_video_does_not_open_and_others_decode(tree):
    root, manifest = tree
    bad = _one(manifest, "truncated")
    assert bad.face_lines == bad.frames == N_FRAMES
    assert _read_frames(root / bad.path) == []
    for video in manifest.videos:
        if video is bad:
            continue
        frames = _read_frames(root / video.path)
        assert len(frames) == video.frames == N_FRAMES, video.path
        assert frames[0].shape == (HEIGHT, WIDTH, 3)


def test_face_files_match_manifest_and_lie_in_frame(tree):
    root, manifest = tree
    for video in manifest.videos:
        lines = _face_text(root, video)
        assert len(lines) == video.face_lines
        defect_lines = {int(d.split("=")[1]) for d in video.defects if d.startswith(("face_missing", "face_zero"))}
        for i, line in enumerate(lines, start=1):
            box = video.true_boxes[i - 1]
            if i not in defect_lines:
                assert line == (" ".join(map(str, box)) if box else "0 0 0 0"), (video.path, i)
        for box in video.true_boxes:
            if box is not None:
                x1, y1, x2, y2 = box
                assert 0 <= x1 < x2 <= WIDTH - 1 and 0 <= y1 < y2 <= HEIGHT - 1, (video.path, box)
        widths = [b[2] - b[0] for b in video.true_boxes[: N_FRAMES // 2] if b]
        # the face width is a capture value: a share of the frame width (breathing and turning move it a little)
        low, high = (share * WIDTH for share in CAPTURE_RANGES["face_share"])
        assert 0.85 * low <= min(widths) and max(widths) <= 1.25 * high, (video.path, min(widths), max(widths))


# ------------------------------------------------------------ determinism, arguments


def test_deterministic_and_overwrites(tmp_path):
    args = dict(subjects=1, seconds=0.5, seed=3)
    a, b = tmp_path / "a", tmp_path / "b"
    write_sample_tree(a, **args)
    write_sample_tree(b, subjects=2, seconds=0.5, seed=4)  # a bigger, different tree ...
    write_sample_tree(b, **args)  # ... replaced: no file of it may survive
    files_a = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) == 2 * 7 + 1
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (dict(subjects=0), "got 0"),
        (dict(subjects=1000), "got 1000"),
        (dict(seconds=0), "got 0"),
        (dict(seconds=-1.0), "got -1.0"),
        (dict(fps=0), "got 0"),
        (dict(seconds=0.1), "seconds=0.1"),
        (dict(frame_size=(641, 480)), "(641, 480)"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, kwargs, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        write_sample_tree(tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_foreign_non_empty_out_dir_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="non-empty"):
        write_sample_tree(tmp_path, subjects=1, seconds=0.5)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


# ----------------------------------------------------------------- geometry


def test_project_box_clips_and_drops_mostly_hidden_faces():
    box = (0.0, 0.0, 100.0, 100.0)

    def shifted(x: float):
        hom = placement(anchor=(50.0, 50.0), center=(x, 240.0), angle_deg=0.0, scale=1.0)
        return project_box(box, homography=hom, frame_size=(WIDTH, HEIGHT))

    assert shifted(320.0) == (270, 190, 370, 290)
    assert shifted(WIDTH - 1 + 50.0 - 35.0) == (WIDTH - 36, 190, WIDTH - 1, 290)  # 35 % visible
    assert shifted(WIDTH - 1 + 50.0 - 25.0) is None  # 25 % visible
    assert shifted(-200.0) is None


# --------------------------------------------------------------- real detector


def test_face_photos_are_found_by_mtcnn(detector):
    photos = load_face_photos()
    assert [p.name for p in photos] == PHOTO_NAMES
    for photo in photos + [photo_variant(photos[0], variant=1)]:
        assert photo.image.dtype == np.uint8 and photo.image.ndim == 3 and photo.image.shape[2] == 3
        assert photo.landmarks.shape == (5, 2)
        x1, y1, x2, y2 = photo.face_box
        # Context: the crop is about 2.2x the face box (Tom Hanks: padded 112 px photo).
        assert photo.image.shape[1] >= 1.8 * (x2 - x1) and photo.image.shape[0] >= 1.4 * (y2 - y1), photo.name
        lm = photo.landmarks
        assert np.all((lm[:, 0] > x1) & (lm[:, 0] < x2) & (lm[:, 1] > y1) & (lm[:, 1] < y2)), photo.name
        assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0], photo.name  # image-left first
        found = _best_box(detector.detect_faces(photo.image))
        assert found is not None, photo.name
        assert _iou(found, photo.face_box) > 0.5, (photo.name, found, photo.face_box)


def test_live_video_faces_are_found_by_mtcnn(tree, detector):
    root, manifest = tree
    video = next(v for v in manifest.videos if v.attack_type == "live" and not v.defects)
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in _read_frames(root / video.path)]
    assert len(frames) == video.frames
    results = detector.detect_faces(frames)  # a list in, one list of faces per frame out
    lines = [tuple(int(v) for v in line.split()) for line in _face_text(root, video)]
    ious = []
    for detections, face in zip(results, lines):
        found = _best_box(detections)
        if found is not None:
            ious.append(_iou(found, face))
    assert len(ious) >= 0.95 * len(frames), f"{len(ious)}/{len(frames)} frames with a face"
    assert np.mean(ious) >= 0.5, ious
