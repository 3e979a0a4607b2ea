"""SiW protocol splits on a small hand-built frames table with exact row counts.

The table: train subjects 1..5 and test subjects 11..13; each subject has 6 videos
(live, print medium 1, replay media 1..4) of 100 frames (frame_index 0..99). In every
video, frames with index % 10 == 9 are `no_face` and index % 25 == 0 are `low_score`,
so 86 frames per video are ok, 51 of them with frame_index < 60. The test replay video
of subject 13 with medium 4 has no ok frame at all.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from etl.train.protocols import Protocol, ProtocolSplit, parse_protocols, split_protocol

TRAIN_SUBJECTS = (1, 2, 3, 4, 5)
TEST_SUBJECTS = (11, 12, 13)
OK_PER_VIDEO = 86
OK_FIRST_60 = 51
DEAD_VIDEO = "Test/spoof/013/013-1-3-4-1"
# (attack type, type id, medium) of each subject's six videos
VIDEOS = [("live", 1, 1), ("print", 2, 1), ("replay", 3, 1), ("replay", 3, 2), ("replay", 3, 3), ("replay", 3, 4)]

SCHEMA = pa.schema(
    [
        ("video_id", pa.string()),
        ("frame_index", pa.int32()),
        ("split", pa.string()),
        ("label", pa.string()),
        ("attack_type", pa.string()),
        ("subject", pa.int32()),
        ("sensor", pa.int32()),
        ("medium", pa.int32()),
        ("session", pa.int32()),
        ("det_status", pa.string()),
        ("aligned", pa.binary()),
    ]
)


def _status(video_id: str, index: int) -> str:
    if video_id == DEAD_VIDEO:
        return "no_face"
    if index % 10 == 9:
        return "no_face"
    if index % 25 == 0:
        return "low_score"
    return "ok"


def build_frames(skip=lambda split, subject, attack, medium: False) -> pa.Table:
    rows: dict[str, list] = {name: [] for name in SCHEMA.names}
    for split, subjects in (("train", TRAIN_SUBJECTS), ("test", TEST_SUBJECTS)):
        for subject in subjects:
            for attack, type_id, medium in VIDEOS:
                if skip(split, subject, attack, medium):
                    continue
                label = "live" if attack == "live" else "spoof"
                video_id = f"{split.title()}/{label}/{subject:03d}/{subject:03d}-1-{type_id}-{medium}-1"
                for index in range(100):
                    status = _status(video_id, index)
                    rows["video_id"].append(video_id)
                    rows["frame_index"].append(index)
                    rows["split"].append(split)
                    rows["label"].append(label)
                    rows["attack_type"].append(attack)
                    rows["subject"].append(subject)
                    rows["sensor"].append(1)
                    rows["medium"].append(medium)
                    rows["session"].append(1)
                    rows["det_status"].append(status)
                    rows["aligned"].append(b"png" if status == "ok" else None)
    return pa.table(rows, schema=SCHEMA)


@pytest.fixture(scope="module")
def frames() -> pa.Table:
    return build_frames()


def _values(table: pa.Table, column: str) -> set:
    return set(table[column].to_pylist())


def _subjects(table: pa.Table) -> set[int]:
    return _values(table, "subject")


# ---------------------------------------------------------------- protocol forms


def test_protocol_labels_and_validation():
    assert Protocol("p1", None).label == "P1"
    assert Protocol("p2", 3).label == "P2.3"
    assert Protocol("p3", 1).label == "P3.1"
    with pytest.raises(ValueError, match="fold in \\[1, 2, 3, 4\\]"):
        Protocol("p2", None)
    with pytest.raises(ValueError, match="fold in \\[1, 2\\]"):
        Protocol("p3", 3)
    with pytest.raises(ValueError, match="no folds"):
        Protocol("p1", 1)
    with pytest.raises(ValueError, match="'p4' is not one of p1, p2, p3"):
        Protocol("p4", None)


def test_parse_protocols_forms():
    def labels(text: str) -> list[str]:
        return [p.label for p in parse_protocols(text)]

    assert labels("p1") == ["P1"]
    assert labels("p2:3") == ["P2.3"]
    assert labels("p3:2") == ["P3.2"]
    assert labels("p2") == ["P2.1", "P2.2", "P2.3", "P2.4"]
    assert labels("p3") == ["P3.1", "P3.2"]
    assert labels("all") == ["P1", "P2.1", "P2.2", "P2.3", "P2.4", "P3.1", "P3.2"]
    assert labels(" P3:1 , p1,p2:4") == ["P3.1", "P1", "P2.4"]
    # duplicates kept once, in first-seen order
    assert labels("p2:2,p2,p1,all") == ["P2.2", "P2.1", "P2.3", "P2.4", "P1", "P3.1", "P3.2"]
    assert parse_protocols("p2:3") == [Protocol("p2", 3)]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("p4", "unknown protocol 'p4'"),
        ("p2:5", "fold must be one of \\[1, 2, 3, 4\\]"),
        ("p3:0", "fold must be one of \\[1, 2\\]"),
        ("p3:x", "fold must be one of"),
        ("p1:1", "p1 has no folds"),
        ("", "no protocol given"),
        ("p1,,p2", "empty protocol entry"),
    ],
)
def test_parse_protocols_errors_name_allowed_forms(text: str, fragment: str):
    with pytest.raises(ValueError, match=fragment) as info:
        parse_protocols(text)
    assert "'p2:K'" in str(info.value) and "'all'" in str(info.value)


# ---------------------------------------------------------------- exact counts


def test_p1_counts_and_frame_limit(frames):
    split = split_protocol(frames, Protocol("p1", None))
    assert isinstance(split, ProtocolSplit)
    pool = 30 * OK_FIRST_60  # 5 subjects x 6 videos
    assert split.validation.num_rows == 6 * OK_FIRST_60  # one subject of five
    assert split.train.num_rows == pool - 6 * OK_FIRST_60
    assert split.test.num_rows == 17 * OK_PER_VIDEO  # 18 test videos, one without an ok frame
    for part in (split.train, split.validation):
        assert pc.max(part["frame_index"]).as_py() == 58  # 59 is no_face
        assert _values(part, "split") == {"train"}
    assert pc.max(split.test["frame_index"]).as_py() == 98
    assert pc.min(split.test["frame_index"]).as_py() == 1
    assert _values(split.test, "split") == {"test"}
    assert DEAD_VIDEO not in _values(split.test, "video_id")
    assert _values(split.train, "attack_type") == {"live", "print", "replay"}


def test_p1_validates_on_every_frame_of_its_validation_videos_when_asked(frames):
    subset = split_protocol(frames, Protocol("p1", None))
    every = split_protocol(frames, Protocol("p1", None), p1_validation_frames="all")
    assert every.validation_subjects == subset.validation_subjects and len(every.validation_subjects) == 1
    # one subject's 6 training videos: 86 ok frames each instead of the 51 of frame_index < 60
    assert subset.validation.num_rows == 6 * OK_FIRST_60
    assert every.validation.num_rows == 6 * OK_PER_VIDEO
    assert pc.max(every.validation["frame_index"]).as_py() == 98 and _values(every.validation, "split") == {"train"}
    assert _subjects(every.validation) == set(every.validation_subjects)
    assert _values(every.validation, "attack_type") == {"live", "print", "replay"}
    # training and test are the same either way
    assert every.train.equals(subset.train) and every.test.equals(subset.test)
    assert (subset.counts()["validation_frames"], every.counts()["validation_frames"]) == ("frame_index < 60", "all")
    # P2 and P3 validate on whole videos anyway: the option changes nothing there
    p2 = split_protocol(frames, Protocol("p2", 1), p1_validation_frames="all")
    assert p2.validation.equals(split_protocol(frames, Protocol("p2", 1)).validation)
    assert p2.counts()["validation_frames"] == "all"
    with pytest.raises(ValueError, match="p1_validation_frames must be one of subset, all; got 'first'"):
        split_protocol(frames, Protocol("p1", None), p1_validation_frames="first")


def test_p1_frame_limit_is_configurable(frames):
    split = split_protocol(frames, Protocol("p1", None), p1_frames=10)
    # frames 0..9 of each video: 0 is low_score, 9 is no_face -> 8 ok
    assert split.train.num_rows + split.validation.num_rows == 30 * 8
    assert pc.max(split.train["frame_index"]).as_py() == 8


@pytest.mark.parametrize("fold", [1, 2, 3, 4])
def test_p2_fold_counts(frames, fold):
    split = split_protocol(frames, Protocol("p2", fold))
    # train pool: per subject live + 3 replay videos of the other media
    assert split.validation.num_rows == 4 * OK_PER_VIDEO
    assert split.train.num_rows == 4 * 4 * OK_PER_VIDEO
    replay_test_videos = 2 if fold == 4 else 3  # subject 13's medium-4 replay has no ok frame
    assert split.test.num_rows == (3 + replay_test_videos) * OK_PER_VIDEO
    for part in (split.train, split.validation, split.test):
        assert "print" not in _values(part, "attack_type")
    train_media = set(split.train.filter(pc.equal(split.train["attack_type"], "replay"))["medium"].to_pylist())
    test_media = set(split.test.filter(pc.equal(split.test["attack_type"], "replay"))["medium"].to_pylist())
    assert train_media == {1, 2, 3, 4} - {fold}
    assert test_media == {fold}
    assert _values(split.test, "split") == {"test"}


@pytest.mark.parametrize(("fold", "trained", "tested"), [(1, "print", "replay"), (2, "replay", "print")])
def test_p3_fold_counts(frames, fold, trained, tested):
    split = split_protocol(frames, Protocol("p3", fold))
    train_videos_per_subject = 2 if fold == 1 else 5
    assert split.validation.num_rows == train_videos_per_subject * OK_PER_VIDEO
    assert split.train.num_rows == 4 * train_videos_per_subject * OK_PER_VIDEO
    assert split.test.num_rows == (14 if fold == 1 else 6) * OK_PER_VIDEO
    assert _values(split.train, "attack_type") == {"live", trained}
    assert _values(split.validation, "attack_type") == {"live", trained}
    assert _values(split.test, "attack_type") == {"live", tested}


def test_counts_for_model_card(frames):
    split = split_protocol(frames, Protocol("p2", 3), seed=0)
    counts = split.counts()
    assert counts["protocol"] == "P2.3"
    assert counts["validation_subjects"] == list(split.validation_subjects)
    assert counts["test"] == {
        "rows": 6 * OK_PER_VIDEO,
        "rows_by_attack_type": {"live": 3 * OK_PER_VIDEO, "print": 0, "replay": 3 * OK_PER_VIDEO},
        "videos": 6,
        "subjects": 3,
    }
    assert counts["validation"] == {
        "rows": 4 * OK_PER_VIDEO,
        "rows_by_attack_type": {"live": OK_PER_VIDEO, "print": 0, "replay": 3 * OK_PER_VIDEO},
        "videos": 4,
        "subjects": 1,
    }
    assert counts["train"]["videos"] == 16 and counts["train"]["subjects"] == 4


# ---------------------------------------------------------------- hygiene of the parts


@pytest.mark.parametrize("protocol", parse_protocols("all"), ids=lambda p: p.label)
def test_parts_keep_columns_only_ok_rows_and_no_leak(frames, protocol):
    split = split_protocol(frames, protocol)
    for part in (split.train, split.validation, split.test):
        assert part.schema == frames.schema
        assert _values(part, "det_status") == {"ok"}
        assert None not in _values(part, "aligned")
    assert _values(split.train, "split") == {"train"}
    assert _values(split.validation, "split") == {"train"}
    assert _values(split.test, "split") == {"test"}
    assert not _subjects(split.train) & _subjects(split.validation)
    assert _subjects(split.validation) == set(split.validation_subjects)
    assert _subjects(split.train) | _subjects(split.validation) == set(TRAIN_SUBJECTS)
    assert not _subjects(split.test) & (_subjects(split.train) | _subjects(split.validation))


def test_validation_is_deterministic_and_seed_dependent(frames):
    protocol = Protocol("p1", None)
    first = split_protocol(frames, protocol, seed=0)
    again = split_protocol(frames, protocol, seed=0)
    assert first.validation_subjects == again.validation_subjects
    assert first.validation.equals(again.validation) and first.train.equals(again.train)
    others = {split_protocol(frames, protocol, seed=s).validation_subjects for s in range(1, 10)}
    assert others - {first.validation_subjects}, "no other seed picked different validation subjects"


@pytest.mark.parametrize(("fraction", "expected"), [(0.01, 1), (0.2, 1), (0.4, 2), (0.6, 3), (0.99, 4)])
def test_validation_fraction_sets_subject_count(frames, fraction, expected):
    split = split_protocol(frames, Protocol("p3", 2), validation_fraction=fraction, seed=3)
    assert len(split.validation_subjects) == expected
    assert split.validation.num_rows == expected * 5 * OK_PER_VIDEO
    assert split.train.num_rows == (5 - expected) * 5 * OK_PER_VIDEO


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_bad_validation_fraction(frames, fraction):
    with pytest.raises(ValueError, match="validation_fraction must be a number strictly between 0 and 1"):
        split_protocol(frames, Protocol("p1", None), validation_fraction=fraction)


def test_validation_prefers_subjects_with_both_classes():
    # subjects 1 and 2 have only live training rows; 3, 4 and 5 have attacks as well
    table = build_frames(
        skip=lambda split, subject, attack, medium: split == "train" and subject < 3 and attack != "live"
    )
    picked = {split_protocol(table, Protocol("p1", None), seed=s).validation_subjects for s in range(12)}
    assert picked <= {(3,), (4,), (5,)}
    assert len(picked) > 1


# ---------------------------------------------------------------- errors


def test_missing_columns_are_named(frames):
    with pytest.raises(ValueError, match="lacks column\\(s\\) medium, det_status"):
        split_protocol(frames.drop_columns(["medium", "det_status"]), Protocol("p1", None))


def test_p2_fold_without_test_replay_of_that_medium():
    table = build_frames(
        skip=lambda split, subject, attack, medium: split == "test" and attack == "replay" and medium == 2
    )
    with pytest.raises(
        ValueError, match="P2.2: the test part has no replay attack rows .*medium == 2 of the test split"
    ):
        split_protocol(table, Protocol("p2", 2))
    # the other folds are unaffected
    assert split_protocol(table, Protocol("p2", 1)).test.num_rows == 6 * OK_PER_VIDEO


def test_empty_train_part():
    table = build_frames(skip=lambda split, subject, attack, medium: split == "train")
    with pytest.raises(ValueError, match="P1: the train part would be empty: no rows with det_status 'ok'"):
        split_protocol(table, Protocol("p1", None))


def test_rows_that_are_not_ok_do_not_count():
    frames = build_frames()
    status = pc.if_else(pc.equal(frames["attack_type"], "print"), "no_face", frames["det_status"])
    table = frames.set_column(frames.schema.get_field_index("det_status"), "det_status", status)
    with pytest.raises(ValueError, match="P3.1: the train part has no print attack rows"):
        split_protocol(table, Protocol("p3", 1))


def test_test_part_without_live_rows():
    table = build_frames(skip=lambda split, subject, attack, medium: split == "test" and attack == "live")
    with pytest.raises(ValueError, match="P3.2: the test part has no live rows"):
        split_protocol(table, Protocol("p3", 2))


def test_one_training_subject_cannot_give_validation():
    table = build_frames(skip=lambda split, subject, attack, medium: split == "train" and subject != 2)
    with pytest.raises(
        ValueError, match="P2.1: the validation part would be empty: .*at least 2 subjects .*found 1 \\(\\[2\\]\\)"
    ):
        split_protocol(table, Protocol("p2", 1))


def test_validation_without_attack_rows_is_an_error():
    # only subject 1 has attack rows; with 2 subjects one must go to validation and the
    # preferred (both-class) subject 1 leaves the train part without attacks
    table = build_frames(
        skip=lambda split, subject, attack, medium: (
            split == "train" and (subject > 2 or (subject == 2 and attack != "live"))
        )
    )
    with pytest.raises(
        ValueError, match="P1: the train part has no print or replay attack rows .*without the validation subjects"
    ):
        split_protocol(table, Protocol("p1", None))
