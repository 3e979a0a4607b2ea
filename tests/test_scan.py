"""scan_source on small SiW-like trees (videos are arbitrary bytes: scan does not decode)."""

import hashlib
import os
from pathlib import Path

import pytest

from etl.sources.siw_tree import FINGERPRINT_EDGE_BYTES, ScanResult, fingerprint_file, scan_source

FACE_TEXT = "100 120 260 310\n101 121 261 311\n0 0 0 0\n"


def _write(root: Path, rel: str, data: bytes | str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return path


def _by_path(result: ScanResult) -> dict:
    return {v.rel_path: v for v in result.videos}


def _snapshot(root: Path) -> dict:
    """Every entry under root: sha256 of its bytes (or its link target) and its lstat mtime."""
    out = {}
    for directory, subdirs, files in os.walk(root):
        for name in subdirs + files:
            path = Path(directory) / name
            st = os.lstat(path)
            if path.is_symlink():
                digest = "link:" + os.readlink(path)
            elif path.is_dir():
                digest = "dir"
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            out[path.relative_to(root).as_posix()] = (digest, st.st_mtime_ns, st.st_size)
    return out


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "siw"
    _write(root, "Train/live/003/003-1-1-1-1.mov", b"video-a" * 10)
    _write(root, "Train/live/003/003-1-1-1-1.face", FACE_TEXT)
    _write(root, "Train/spoof/003/003-1-2-1-1.mov", b"video-b" * 10)
    _write(root, "Train/spoof/003/003-1-2-1-1.face", "100  260 310\n")
    _write(root, "Test/spoof/006/006-2-3-4-1.mov", b"video-c" * 10)
    _write(root, "Test/spoof/006/006-2-3-4-1.face", FACE_TEXT)
    return root


def test_results_sorted_by_video_id_and_fields(tree):
    result = scan_source(tree)
    assert result.source_root == str(tree.resolve())
    ids = [v.video_id for v in result.videos]
    assert ids == ["Test/spoof/006/006-2-3-4-1", "Train/live/003/003-1-1-1-1", "Train/spoof/003/003-1-2-1-1"]
    assert ids == sorted(ids)
    assert all(v.processable and v.status is None and v.status_reason is None for v in result.videos)
    assert result.orphan_face_files == []
    assert result.ignored_files == 0
    video = _by_path(result)["Train/live/003/003-1-1-1-1.mov"]
    # the scan keeps each .face as its text, parsed only where asked (a task): not 2 M parsed boxes in the driver
    assert all("annotations" not in v.__dict__ for v in result.videos)
    assert (video.face_lines, len(video.face_text.splitlines())) == (3, 3)
    assert video.size_bytes == 70
    assert video.face_rel_path == "Train/live/003/003-1-1-1-1.face"
    assert video.name.label == "live" and video.name.split == "train"
    assert video.abs_path == tree.resolve() / "Train/live/003/003-1-1-1-1.mov"
    assert video.annotations.boxes == [(100, 120, 260, 310), (101, 121, 261, 311), None]
    assert video.annotations.n_zero == 1
    repaired = _by_path(result)["Train/spoof/003/003-1-2-1-1.mov"].annotations
    assert repaired.boxes == [(100, 48, 260, 310)]
    assert repaired.repairs[0]["method"] == "notes_48"
    fingerprints = [v.fingerprint for v in result.videos]
    assert all(isinstance(f, str) and len(f) == 32 for f in fingerprints)
    assert len(set(fingerprints)) == 3


def test_bad_name(tree):
    _write(tree, "Train/live/003/foo.mov", b"x" * 5)
    _write(tree, "Train/spoof/003/003-1-1-1-1.mov", b"y" * 5)  # type 1 under spoof
    result = scan_source(tree)
    videos = _by_path(result)
    bad = videos["Train/live/003/foo.mov"]
    assert bad.status == "bad_name"
    assert bad.video_id == "Train/live/003/foo.mov"
    assert bad.name is None
    assert not bad.processable
    assert "does not match" in bad.status_reason
    contradiction = videos["Train/spoof/003/003-1-1-1-1.mov"]
    assert contradiction.status == "bad_name"
    assert contradiction.video_id == "Train/spoof/003/003-1-1-1-1.mov"
    assert "contradicts its folder 'spoof'" in contradiction.status_reason
    assert len(result.videos) == 5
    assert sum(v.processable for v in result.videos) == 3


def test_empty_file(tree):
    _write(tree, "Train/live/007/007-1-1-1-1.mov", b"")
    result = scan_source(tree)
    video = _by_path(result)["Train/live/007/007-1-1-1-1.mov"]
    assert video.status == "empty_file"
    assert video.video_id == "Train/live/007/007-1-1-1-1"
    assert video.size_bytes == 0
    assert video.status_reason == "Train/live/007/007-1-1-1-1.mov is empty (0 bytes)"
    assert not video.processable


def test_plain_beside_m_mov_keeps_canonical_id(tree):
    _write(tree, "Test/spoof/006/006-2-3-4-1.m.mov", b"video-m" * 10)
    result = scan_source(tree)
    videos = _by_path(result)
    plain = videos["Test/spoof/006/006-2-3-4-1.mov"]
    dup = videos["Test/spoof/006/006-2-3-4-1.m.mov"]
    assert plain.video_id == "Test/spoof/006/006-2-3-4-1"
    assert plain.processable
    assert plain.name.name_form == "plain"
    assert dup.status == "duplicate_name"
    assert dup.video_id == "Test/spoof/006/006-2-3-4-1.m.mov"
    assert dup.status_reason == "same SiW video as Test/spoof/006/006-2-3-4-1.mov; not processed twice"
    assert [v.video_id for v in result.videos].count("Test/spoof/006/006-2-3-4-1") == 1
    assert len(result.videos) == 4


def test_mp4_alone_is_a_video_with_its_face(tmp_path):
    root = tmp_path / "siw"
    _write(root, "Train/spoof/004/004-1-3-2-1.MP4", b"m" * 100)
    _write(root, "Train/spoof/004/004-1-3-2-1.face", FACE_TEXT)
    result = scan_source(root)
    (video,) = result.videos
    assert video.video_id == "Train/spoof/004/004-1-3-2-1"  # the relative path without extension
    assert video.rel_path == "Train/spoof/004/004-1-3-2-1.MP4"
    assert video.name.name_form == "mp4" and video.name.medium == 2 and video.name.attack_type == "replay"
    assert video.processable
    assert video.face_rel_path == "Train/spoof/004/004-1-3-2-1.face"
    assert video.annotations.n_lines == 3
    assert result.orphan_face_files == [] and result.ignored_files == 0


def test_mov_beside_mp4_of_one_stem_is_one_video_and_a_duplicate_name_row(tree):
    # one SiW video id, two files: the .mov keeps the id, the .mp4 is a duplicate_name row keyed by its path
    _write(tree, "Test/spoof/006/006-2-3-4-1.mp4", b"video-mp4" * 10)
    result = scan_source(tree)
    videos = _by_path(result)
    mov, mp4 = videos["Test/spoof/006/006-2-3-4-1.mov"], videos["Test/spoof/006/006-2-3-4-1.mp4"]
    assert mov.video_id == "Test/spoof/006/006-2-3-4-1" and mov.processable and mov.name.name_form == "plain"
    assert mp4.status == "duplicate_name" and not mp4.processable
    assert mp4.video_id == "Test/spoof/006/006-2-3-4-1.mp4"
    assert mp4.status_reason == "same SiW video as Test/spoof/006/006-2-3-4-1.mov; not processed twice"
    ids = [v.video_id for v in result.videos]
    assert len(ids) == len(set(ids)) == 4  # no two rows share an id
    assert mov.face_rel_path == "Test/spoof/006/006-2-3-4-1.face"


def test_mp4_comes_before_m_mov_whatever_the_path_order(tmp_path):
    # by path `X.m.mov` sorts before `X.mp4` ('.' < 'p'); by name form the plain .mp4 keeps the id
    root = tmp_path / "siw"
    _write(root, "Test/spoof/042/042-2-3-2-1.m.mov", b"a" * 100)
    _write(root, "Test/spoof/042/042-2-3-2-1.mp4", b"b" * 100)
    _write(root, "Test/spoof/042/042-2-3-2-1.m.mp4", b"c" * 100)
    videos = _by_path(scan_source(root))
    assert videos["Test/spoof/042/042-2-3-2-1.mp4"].video_id == "Test/spoof/042/042-2-3-2-1"
    assert videos["Test/spoof/042/042-2-3-2-1.mp4"].processable
    for duplicate in ("Test/spoof/042/042-2-3-2-1.m.mov", "Test/spoof/042/042-2-3-2-1.m.mp4"):
        assert videos[duplicate].status == "duplicate_name"
        assert videos[duplicate].video_id == duplicate
        assert videos[duplicate].status_reason.startswith("same SiW video as Test/spoof/042/042-2-3-2-1.mp4;")


def test_m_mov_alone_uses_plain_stem_face(tmp_path):
    root = tmp_path / "siw"
    _write(root, "Test/spoof/042/042-2-3-2-1.m.mov", b"m" * 100)
    _write(root, "Test/spoof/042/042-2-3-2-1.face", FACE_TEXT)
    result = scan_source(root)
    assert len(result.videos) == 1
    video = result.videos[0]
    assert video.video_id == "Test/spoof/042/042-2-3-2-1"
    assert video.rel_path == "Test/spoof/042/042-2-3-2-1.m.mov"
    assert video.name.name_form == "m_mov"
    assert video.processable
    assert video.face_rel_path == "Test/spoof/042/042-2-3-2-1.face"
    assert video.annotations.n_lines == 3
    assert result.orphan_face_files == []


def test_missing_face_is_processable_without_annotations(tmp_path):
    root = tmp_path / "siw"
    _write(root, "Train/live/003/003-1-1-1-1.mov", b"v" * 10)
    result = scan_source(root)
    video = result.videos[0]
    assert video.processable
    assert video.annotations is None
    assert video.face_rel_path is None
    assert video.fingerprint == fingerprint_file(root / "Train/live/003/003-1-1-1-1.mov")


def test_orphan_face(tree):
    _write(tree, "Train/live/009/009-1-1-1-1.face", FACE_TEXT)
    _write(tree, "Test/live/009/009-1-1-1-2.face", FACE_TEXT)
    result = scan_source(tree)
    assert result.orphan_face_files == ["Test/live/009/009-1-1-1-2.face", "Train/live/009/009-1-1-1-1.face"]
    assert len(result.videos) == 3


def test_broken_symlink_is_unreadable(tree):
    link = tree / "Train/live/003/003-1-1-1-2.mov"
    link.symlink_to(tree / "nowhere" / "gone.mov")
    result = scan_source(tree)
    video = _by_path(result)["Train/live/003/003-1-1-1-2.mov"]
    assert video.status == "unreadable"
    assert video.video_id == "Train/live/003/003-1-1-1-2"
    assert video.fingerprint is None
    assert video.status_reason.startswith("cannot read Train/live/003/003-1-1-1-2.mov: ")
    assert not video.processable
    assert sum(v.processable for v in result.videos) == 3


def test_other_files_are_counted_as_ignored(tree):
    _write(tree, "README.txt", "hello")
    _write(tree, "Train/.DS_Store", b"\0")
    _write(tree, "Train/live/003/003-1-1-1-1.avi", b"not a SiW video")
    result = scan_source(tree)
    assert result.ignored_files == 3
    assert len(result.videos) == 3


def test_uppercase_mov_suffix_is_a_video(tmp_path):
    root = tmp_path / "siw"
    _write(root, "Train/live/003/003-1-1-1-1.MOV", b"v" * 10)
    _write(root, "Train/live/003/003-1-1-1-1.face", FACE_TEXT)
    result = scan_source(root)
    assert [v.video_id for v in result.videos] == ["Train/live/003/003-1-1-1-1"]
    assert result.videos[0].face_rel_path == "Train/live/003/003-1-1-1-1.face"


def test_prefix_folder_in_source(tmp_path):
    root = tmp_path / "src"
    _write(root, "SiW/Train/live/003/003-1-1-1-1.mov", b"v" * 10)
    result = scan_source(root)
    assert [v.video_id for v in result.videos] == ["SiW/Train/live/003/003-1-1-1-1"]


def _fingerprints(root: Path) -> dict:
    return {v.video_id: v.fingerprint for v in scan_source(root).videos}


def test_fingerprint_stable_across_rescans_and_touches(tree):
    first = _fingerprints(tree)
    video = tree / "Train/live/003/003-1-1-1-1.mov"
    os.utime(video, (1_000_000, 1_000_000))
    assert _fingerprints(tree) == first


def test_fingerprint_changes_with_face_file(tree):
    first = _fingerprints(tree)
    (tree / "Train/live/003/003-1-1-1-1.face").write_text(FACE_TEXT + "0 0 0 0\n")
    second = _fingerprints(tree)
    assert second["Train/live/003/003-1-1-1-1"] != first["Train/live/003/003-1-1-1-1"]
    others = [k for k in first if k != "Train/live/003/003-1-1-1-1"]
    assert {k: second[k] for k in others} == {k: first[k] for k in others}


def test_fingerprint_changes_with_video_bytes(tree):
    first = _fingerprints(tree)
    path = tree / "Train/live/003/003-1-1-1-1.mov"
    data = bytearray(path.read_bytes())
    data[3] ^= 0xFF  # same size, one byte different
    path.write_bytes(bytes(data))
    second = _fingerprints(tree)
    assert second["Train/live/003/003-1-1-1-1"] != first["Train/live/003/003-1-1-1-1"]
    path.write_bytes(bytes(data) + b"!")  # one byte longer
    third = _fingerprints(tree)
    assert third["Train/live/003/003-1-1-1-1"] not in (
        first["Train/live/003/003-1-1-1-1"],
        second["Train/live/003/003-1-1-1-1"],
    )


def test_fingerprint_reads_both_edges_of_large_files(tmp_path):
    path = tmp_path / "big.mov"
    size = 3 * FINGERPRINT_EDGE_BYTES
    data = bytearray(size)
    path.write_bytes(bytes(data))
    base = fingerprint_file(path)
    data[-1] = 1  # last byte
    path.write_bytes(bytes(data))
    tail = fingerprint_file(path)
    assert tail != base
    data[-1] = 0
    data[0] = 1
    path.write_bytes(bytes(data))
    assert fingerprint_file(path) not in (base, tail)
    assert fingerprint_file(path, extra=b"face") != fingerprint_file(path)


def test_scan_never_modifies_the_tree(tree):
    _write(tree, "Test/spoof/006/006-2-3-4-1.m.mov", b"dup" * 5)
    _write(tree, "Train/live/007/007-1-1-1-1.mov", b"")
    _write(tree, "Train/live/003/bad.mov", b"bad")
    _write(tree, "Train/live/009/009-1-1-1-1.face", "\ufeff120  260 310\r\n")
    _write(tree, "notes.txt", "x")
    (tree / "Train/live/003/003-1-1-1-3.mov").symlink_to(tree / "missing.mov")
    before = _snapshot(tree)
    result = scan_source(tree)
    assert len(result.videos) == 7
    assert sorted(v.status or "ok" for v in result.videos) == [
        "bad_name",
        "duplicate_name",
        "empty_file",
        "ok",
        "ok",
        "ok",
        "unreadable",
    ]
    assert result.orphan_face_files == ["Train/live/009/009-1-1-1-1.face"]
    assert _snapshot(tree) == before


def test_source_not_a_folder(tmp_path):
    missing = tmp_path / "no_such_source"
    with pytest.raises(FileNotFoundError) as info:
        scan_source(missing)
    assert str(missing.resolve()) in str(info.value)
    a_file = tmp_path / "file.mov"
    a_file.write_bytes(b"x")
    with pytest.raises(FileNotFoundError) as info:
        scan_source(str(a_file))
    assert str(a_file.resolve()) in str(info.value)


def test_undecodable_face_file_leaves_video_processable_without_annotations(tmp_path):
    root = tmp_path / "siw"
    _write(root, "Train/live/003/003-1-1-1-1.mov", b"v" * 10)
    _write(root, "Train/live/003/003-1-1-1-1.face", b"\xff\xfe100 120 260 310\n")
    result = scan_source(root)
    video = result.videos[0]
    assert video.processable
    assert video.annotations is None
    assert video.face_rel_path == "Train/live/003/003-1-1-1-1.face"
    assert "is unreadable (UnicodeDecodeError" in video.face_error
    assert result.orphan_face_files == []  # it was found, just not readable
    # the unreadable .face still counts in the fingerprint
    assert video.fingerprint == fingerprint_file(
        root / "Train/live/003/003-1-1-1-1.mov", extra=b"\xff\xfe100 120 260 310\n"
    )


# ---------------------------------------------------------------- is it a SiW tree at all (check_siw_source)

SIW_EXPECTED = (
    "is not a SiW tree: expected Train/ and/or Test/ folders holding live/ and spoof/ with "
    "SSS/SSS-sensor-type-medium-session.mov videos (.m.mov and .mp4 too); "
)


def _refusal(source: Path | str) -> str:
    from etl.sources.siw_tree import NotASourceError, check_siw_source

    with pytest.raises(NotASourceError) as info:
        check_siw_source(str(source))
    assert str(info.value).startswith("source: ")  # the library names the setting, the CLI its flag
    return info.value.line(flags=True)


def test_a_siw_tree_passes_the_check_whatever_its_case_and_even_empty(tmp_path):
    from etl.sources.siw_tree import check_siw_source

    (tmp_path / "a/train/LIVE").mkdir(parents=True)  # scan_source matches split and label ignoring case too
    (tmp_path / "b/Test/spoof").mkdir(parents=True)  # no video yet: nothing to do, not an error
    _write(tmp_path / "c", "Test/spoof/006/006-2-3-4-1.m.mov", b"v")
    _write(tmp_path / "c", "stray.mov", b"w")  # a badly placed video inside a SiW tree is a row, not a refusal
    for name in "abc":
        check_siw_source(str(tmp_path / name))


def test_one_split_folder_or_deeper_names_the_tree_to_pass(tree):
    assert _refusal(tree / "Train") == (
        f"--source {tree / 'Train'} {SIW_EXPECTED}it is part of the SiW tree {tree}: pass its parent, {tree}"
    )
    assert _refusal(tree / "Train/live/003").endswith(
        f"it is part of the SiW tree {tree}: pass the folder 3 levels up, {tree}"
    )


def test_a_relative_source_gets_relative_hints(tree, monkeypatch):
    monkeypatch.chdir(tree.parent)
    assert _refusal("siw/Train").endswith("it is part of the SiW tree siw: pass its parent, siw")


def test_a_tree_one_or_two_levels_down_is_named(tmp_path):
    tree = tmp_path / "outer/data/siw"
    _write(tree, "Train/live/003/003-1-1-1-1.mov", b"v")
    _write(tmp_path / "outer", "notes.txt", "x")
    for source in (tmp_path / "outer/data", tmp_path / "outer"):
        assert _refusal(source).endswith(f"; the SiW tree seems to be {tree}: pass that folder")
    assert _refusal(tmp_path).endswith("; it holds 1 .mov/.mp4 file, none under Train/ or Test/ and live/ or spoof/")


@pytest.mark.parametrize(
    ("files", "hint"),
    [
        ({}, "the folder is empty"),
        (
            {"a.mov": b"1", "x/b.MOV": b"2", "c.mp4": b"3"},
            "it holds 3 .mov/.mp4 files, none under Train/ or Test/ and live/ or spoof/",
        ),
        ({"Train/real/001/001-1-1-1-1.mov": b"1"}, "Train/ holds no live/ or spoof/ folder"),
        (
            {"alice/1.jpg": b"1", "bob/2.png": b"2"},
            "it looks like a photo tree (2 user folders of .jpg/.jpeg/.png photos): "
            "register it with `facelake register --source {root} --lake LAKE`",
        ),
        (
            {"1.jpg": b"1"},
            "it holds 1 photo and no .mov/.mp4 video: photos go in with `facelake register` (<root>/<user>/*.jpg)",
        ),
        ({"notes.txt": b"1"}, "it holds no .mov/.mp4 file"),
    ],
)
def test_a_folder_that_is_no_siw_tree_is_refused_with_what_it_is(tmp_path, files, hint):
    root = tmp_path / "source"
    root.mkdir()
    for rel, data in files.items():
        _write(root, rel, data)
    assert _refusal(root) == f"--source {root} {SIW_EXPECTED}{hint.format(root=root)}"


def test_a_source_that_is_not_a_folder_is_refused(tmp_path):
    assert _refusal(tmp_path / "nope").startswith(
        f"--source {tmp_path / 'nope'} is not a folder (nothing is there); "
        "pass the root of a SiW tree (Train/ and/or Test/ folders"
    )
    _write(tmp_path, "file.mov", b"x")
    assert _refusal(tmp_path / "file.mov").startswith(
        f"--source {tmp_path / 'file.mov'} is not a folder (it is a file)"
    )


def test_a_lake_inside_its_source_is_refused(tmp_path):
    from etl.sources.siw_tree import NotASourceError, check_lake_outside_source

    source = tmp_path / "siw"
    for lake in (source, source / "lake", source / "a" / ".." / "lake"):
        with pytest.raises(NotASourceError, match="put the lake outside the source tree"):
            check_lake_outside_source(str(lake), str(source))
    check_lake_outside_source(str(tmp_path / "lake"), str(source))
    check_lake_outside_source(str(tmp_path / "siw-lake"), str(source))  # a sibling whose name starts the same
    check_lake_outside_source("s3://bucket/siw", str(source))
