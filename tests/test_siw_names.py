"""parse_siw_path: the SiW layout `{Train,Test}/{live,spoof}/SSS/SSS-sensor-type-medium-session.mov`."""

import pytest

from etl.sources.siw_names import SiwName, SiwNameError, parse_siw_path


def test_plain_live_name_all_fields():
    name = parse_siw_path("Train/live/003/003-1-1-1-1.mov")
    assert name == SiwName(
        video_id="Train/live/003/003-1-1-1-1",
        name_form="plain",
        split="train",
        label="live",
        attack_type="live",
        subject=3,
        sensor=1,
        type_id=1,
        medium=1,
        session=1,
        stem="003-1-1-1-1",
    )


def test_plain_spoof_print_fields():
    name = parse_siw_path("Test/spoof/006/006-2-2-4-3.mov")
    assert name.video_id == "Test/spoof/006/006-2-2-4-3"
    assert name.split == "test"
    assert name.label == "spoof"
    assert name.attack_type == "print"
    assert (name.subject, name.sensor, name.type_id, name.medium, name.session) == (6, 2, 2, 4, 3)
    assert name.name_form == "plain"
    assert name.stem == "006-2-2-4-3"


@pytest.mark.parametrize(
    ("rel", "label", "attack_type", "type_id", "medium"),
    [
        ("Train/live/010/010-1-1-1-2.mov", "live", "live", 1, 1),
        ("Train/spoof/010/010-1-2-3-2.mov", "spoof", "print", 2, 3),
        ("Train/spoof/010/010-1-3-4-2.mov", "spoof", "replay", 3, 4),
    ],
)
def test_attack_types_1_2_3(rel, label, attack_type, type_id, medium):
    name = parse_siw_path(rel)
    assert name.label == label
    assert name.attack_type == attack_type
    assert name.type_id == type_id
    assert name.split == "train"
    assert name.subject == 10
    assert name.medium == medium
    assert name.session == 2


def test_split_is_lower_case_whatever_the_folder_case():
    assert parse_siw_path("Train/live/003/003-1-1-1-1.mov").split == "train"
    assert parse_siw_path("TEST/LIVE/003/003-1-1-1-1.mov").split == "test"
    assert parse_siw_path("TEST/LIVE/003/003-1-1-1-1.mov").label == "live"


def test_m_mov_has_same_video_id_as_plain():
    plain = parse_siw_path("Test/spoof/042/042-2-3-2-1.mov")
    m_mov = parse_siw_path("Test/spoof/042/042-2-3-2-1.m.mov")
    assert m_mov.video_id == plain.video_id == "Test/spoof/042/042-2-3-2-1"
    assert m_mov.name_form == "m_mov"
    assert plain.name_form == "plain"
    assert m_mov.stem == plain.stem == "042-2-3-2-1"
    assert m_mov.attack_type == "replay"
    assert (m_mov.subject, m_mov.sensor, m_mov.type_id, m_mov.medium, m_mov.session) == (42, 2, 3, 2, 1)


@pytest.mark.parametrize(
    ("file_name", "name_form"),
    [
        ("042-2-3-2-1.mp4", "mp4"),
        ("042-2-3-2-1.MP4", "mp4"),
        ("042-2-3-2-1.m.mp4", "m_mp4"),
        ("042-2-3-2-1.MOV", "plain"),
    ],
)
def test_mp4_is_accepted_beside_mov_with_the_same_video_id(file_name, name_form):
    name = parse_siw_path(f"Test/spoof/042/{file_name}")
    assert name.video_id == parse_siw_path("Test/spoof/042/042-2-3-2-1.mov").video_id == "Test/spoof/042/042-2-3-2-1"
    assert name.stem == "042-2-3-2-1"
    assert name.name_form == name_form
    assert (name.attack_type, name.medium) == ("replay", 2)


def test_name_forms_rank_mov_then_mp4_then_the_m_forms():
    from etl.sources.siw_names import VIDEO_FORM_ORDER, form_rank, video_suffix

    names = ["X.m.mp4", "X.m.mov", "X.mp4", "X.MOV", "X.avi"]
    assert sorted(names, key=form_rank) == ["X.MOV", "X.mp4", "X.m.mov", "X.m.mp4", "X.avi"]
    assert [form_rank(n) for n in ("X.mov", "X.mp4", "X.m.mov", "X.m.mp4")] == list(range(len(VIDEO_FORM_ORDER)))
    assert (video_suffix("a.MP4"), video_suffix("a.mov"), video_suffix("a.face")) == (".MP4", ".mov", None)


def test_prefix_folder_above_train_is_accepted():
    name = parse_siw_path("SiW_release/Train/live/003/003-1-1-1-1.mov")
    assert name.video_id == "SiW_release/Train/live/003/003-1-1-1-1"
    assert name.split == "train"
    assert name.label == "live"
    assert name.subject == 3


def _error(rel: str) -> str:
    with pytest.raises(SiwNameError) as info:
        parse_siw_path(rel)
    assert isinstance(info.value, ValueError)
    return str(info.value)


@pytest.mark.parametrize(
    "rel",
    [
        "Train/live/003/3-1-1-1-1.mov",  # subject not 3 digits
        "Train/live/003/003-1-1-1.mov",  # 4 fields
        "Train/live/003/003-1-1-1-1.avi",
        "Train/live/003/003-1-1-1-1.face",
        "Train/live/003/003-a-1-1-1.mov",
    ],
)
def test_bad_pattern(rel):
    message = _error(rel)
    assert "does not match SSS-sensor-type-medium-session.mov" in message
    assert repr(rel.rsplit("/", 1)[1]) in message


def test_too_shallow():
    message = _error("live/003/003-1-1-1-1.mov")
    assert message == "'live/003/003-1-1-1-1.mov' is not under {Train,Test}/{live,spoof}/SSS/"
    assert "is not under" in _error("003-1-1-1-1.mov")


def test_bad_split_folder():
    message = _error("Dev/live/003/003-1-1-1-1.mov")
    assert message == "split folder 'Dev' is neither Train nor Test"


def test_bad_label_folder():
    message = _error("Train/fake/003/003-1-1-1-1.mov")
    assert message == "label folder 'fake' is neither live nor spoof"


def test_type_4_is_refused():
    message = _error("Train/spoof/003/003-1-4-1-1.mov")
    assert message == "type 4 in '003-1-4-1-1.mov' is not 1 (live), 2 (print) or 3 (replay)"


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("Train/spoof/003/003-1-1-1-1.mov", "type 1 (live) in '003-1-1-1-1.mov' contradicts its folder 'spoof'"),
        ("Train/live/003/003-1-2-1-1.mov", "type 2 (print) in '003-1-2-1-1.mov' contradicts its folder 'live'"),
        ("Test/live/003/003-1-3-1-1.mov", "type 3 (replay) in '003-1-3-1-1.mov' contradicts its folder 'live'"),
    ],
)
def test_type_folder_contradiction(rel, expected):
    assert _error(rel) == expected


def test_subject_folder_mismatch():
    message = _error("Train/live/004/003-1-1-1-1.mov")
    assert message == "subject 003 in '003-1-1-1-1.mov' contradicts its folder '004'"
