"""parse_face_text / read_face_file: SiW `.face` lines, repaired while reading."""

import pytest

from etl.sources.face_file import NEIGHBOUR_WINDOW, NOTES_FILL_VALUE, parse_face_text, read_face_file


def test_clean_lines():
    ann = parse_face_text("100 120 260 310\n101 121 261 311\n102 122 262 312\n")
    assert ann.boxes == [(100, 120, 260, 310), (101, 121, 261, 311), (102, 122, 262, 312)]
    assert ann.sources == ["face_file"] * 3
    assert ann.repairs == []
    assert ann.n_lines == 3
    assert ann.n_zero == 0
    assert ann.box_for_frame(1) == ((101, 121, 261, 311), "face_file")


def test_trailing_space_on_a_line_is_tolerated():
    ann = parse_face_text("100 120 260 310 \n")
    assert ann.boxes == [(100, 120, 260, 310)]
    assert ann.sources == ["face_file"]
    assert ann.repairs == []


@pytest.mark.parametrize(
    ("line", "position", "prev_value", "next_value", "expected"),
    [
        # missing y1 (the `sed 's/  / 48 /'` defect: x1, then two spaces)
        ("120  260 310", 1, 100, 104, (120, 102, 260, 310)),
        # missing x2
        ("120 100  310", 2, 250, 270, (120, 100, 260, 310)),
    ],
)
def test_missing_number_interpolated_from_neighbours(line, position, prev_value, next_value, expected):
    prev_box = [120, 100, 260, 310]
    next_box = [120, 100, 260, 310]
    prev_box[position] = prev_value
    next_box[position] = next_value
    text = " ".join(map(str, prev_box)) + "\n" + line + "\n" + " ".join(map(str, next_box)) + "\n"
    ann = parse_face_text(text)
    value = round((prev_value + next_value) / 2)
    assert expected[position] == value
    assert ann.boxes[1] == expected
    assert ann.sources == ["face_file", "repaired", "face_file"]
    assert ann.repairs == [
        {
            "line": 2,
            "kind": "missing_number",
            "original": line,
            "position": position,
            "value": value,
            "method": "interpolated",
        }
    ]
    assert ann.box_for_frame(1) == (expected, "repaired")


def test_gap_at_line_edge_is_not_the_double_space_defect():
    # a trailing double space leaves 3 numbers but no inner gap: it cannot be placed, so dropped
    ann = parse_face_text("100 120 260 300\n100 120 260  \n100 120 260 310\n")
    assert ann.sources == ["face_file", "unparseable", "face_file"]
    assert ann.boxes[1] is None
    assert ann.repairs == [
        {
            "line": 2,
            "kind": "unparseable",
            "original": "100 120 260  ",
            "position": None,
            "value": None,
            "method": "dropped",
        }
    ]


def test_interpolation_skips_zero_and_bad_lines_to_nearest_good_ones():
    text = (
        "\n".join(
            [
                "100 110 200 210",  # good, y1 = 110
                "0 0 0 0",
                "garbage",
                "100  200 210",  # gap in y1
                "0 0 0 0",
                "100 130 200 210",  # good, y1 = 130
            ]
        )
        + "\n"
    )
    ann = parse_face_text(text)
    assert ann.boxes[3] == (100, 120, 200, 210)
    assert ann.sources == ["face_file", "zero_box", "unparseable", "repaired", "zero_box", "face_file"]
    missing = [r for r in ann.repairs if r["kind"] == "missing_number"]
    assert missing == [
        {
            "line": 4,
            "kind": "missing_number",
            "original": "100  200 210",
            "position": 1,
            "value": 120,
            "method": "interpolated",
        }
    ]


def test_interpolation_with_only_one_neighbour_uses_that_one():
    ann = parse_face_text("100 140 200 210\n100  200 210\n")
    assert ann.boxes[1] == (100, 140, 200, 210)
    assert ann.repairs[0]["method"] == "interpolated"
    assert ann.repairs[0]["value"] == 140


def test_missing_number_without_neighbour_gets_48():
    ann = parse_face_text("120  260 310\n")
    assert ann.boxes == [(120, NOTES_FILL_VALUE, 260, 310)]
    assert NOTES_FILL_VALUE == 48
    assert ann.sources == ["repaired"]
    assert ann.repairs == [
        {
            "line": 1,
            "kind": "missing_number",
            "original": "120  260 310",
            "position": 1,
            "value": 48,
            "method": "notes_48",
        }
    ]


def test_neighbour_window_boundary():
    assert NEIGHBOUR_WINDOW == 30
    # good line exactly NEIGHBOUR_WINDOW lines before the gap: used
    lines = ["100 90 200 210"] + ["0 0 0 0"] * (NEIGHBOUR_WINDOW - 1) + ["100  200 210"]
    ann = parse_face_text("\n".join(lines) + "\n")
    assert ann.repairs[-1]["method"] == "interpolated"
    assert ann.boxes[NEIGHBOUR_WINDOW] == (100, 90, 200, 210)
    # one line further: out of the window, so the notes' 48
    lines = (
        ["100 90 200 210"]
        + ["0 0 0 0"] * NEIGHBOUR_WINDOW
        + ["100  200 210"]
        + ["0 0 0 0"] * (NEIGHBOUR_WINDOW + 1)
        + ["100 95 200 210"]
    )
    ann = parse_face_text("\n".join(lines) + "\n")
    gap = NEIGHBOUR_WINDOW + 1
    assert ann.sources[gap] == "repaired"
    assert ann.boxes[gap] == (100, 48, 200, 210)
    assert ann.repairs == [
        {
            "line": gap + 1,
            "kind": "missing_number",
            "original": "100  200 210",
            "position": 1,
            "value": 48,
            "method": "notes_48",
        }
    ]
    assert ann.n_zero == 2 * NEIGHBOUR_WINDOW + 1


def test_zero_box_is_none_and_not_a_repair():
    ann = parse_face_text("0 0 0 0\n100 120 260 310\n0 0 0 0\n")
    assert ann.boxes == [None, (100, 120, 260, 310), None]
    assert ann.sources == ["zero_box", "face_file", "zero_box"]
    assert ann.repairs == []
    assert ann.n_zero == 2
    assert ann.n_lines == 3
    assert ann.box_for_frame(0) == (None, "zero_box")


@pytest.mark.parametrize(
    "line", ["a b c d", "100 120 260 3x0", "100 120 260 310 400", "100 120 260", "", "1.5 2 3 4", "100\t120\t260\t310"]
)
def test_unparseable_lines_are_dropped(line):
    ann = parse_face_text("100 120 260 310\n" + line + "\n100 120 260 310\n")
    assert ann.boxes == [(100, 120, 260, 310), None, (100, 120, 260, 310)]
    assert ann.sources == ["face_file", "unparseable", "face_file"]
    assert ann.repairs == [
        {"line": 2, "kind": "unparseable", "original": line, "position": None, "value": None, "method": "dropped"}
    ]
    assert ann.n_lines == 3


@pytest.mark.parametrize("line", ["260 120 100 310", "100 120 100 310", "100 310 260 120", "100 120 260 120"])
def test_invalid_box(line):
    ann = parse_face_text(line + "\n")
    assert ann.boxes == [None]
    assert ann.sources == ["invalid_box"]
    assert ann.repairs == [
        {"line": 1, "kind": "invalid_box", "original": line, "position": None, "value": None, "method": "dropped"}
    ]


def test_bom_and_crlf_recorded_once_each():
    text = "\ufeff100 120 260 310\r\n101 121 261 311\r\n0 0 0 0\r\n102 122 262 312\r\n"
    ann = parse_face_text(text)
    assert ann.boxes == [(100, 120, 260, 310), (101, 121, 261, 311), None, (102, 122, 262, 312)]
    assert ann.sources == ["face_file", "face_file", "zero_box", "face_file"]
    assert ann.repairs == [
        {"line": 1, "kind": "bom", "original": "", "position": None, "value": None, "method": "stripped"},
        {"line": 1, "kind": "crlf", "original": "", "position": None, "value": None, "method": "stripped"},
    ]
    assert ann.n_lines == 4
    assert ann.n_zero == 1


def test_crlf_with_missing_number():
    ann = parse_face_text("100 100 200 200\r\n100  200 200\r\n100 110 200 200\r\n")
    assert ann.boxes[1] == (100, 105, 200, 200)
    assert [r["kind"] for r in ann.repairs] == ["crlf", "missing_number"]
    assert ann.repairs[1]["original"] == "100  200 200"


def test_final_newline_does_not_add_a_frame():
    with_newline = parse_face_text("100 120 260 310\n101 121 261 311\n")
    without = parse_face_text("100 120 260 310\n101 121 261 311")
    assert with_newline.n_lines == without.n_lines == 2
    assert with_newline.boxes == without.boxes
    assert with_newline.repairs == without.repairs == []
    assert parse_face_text("").n_lines == 0


def test_box_for_frame_past_the_end():
    ann = parse_face_text("100 120 260 310\n")
    assert ann.box_for_frame(0) == ((100, 120, 260, 310), "face_file")
    assert ann.box_for_frame(1) == (None, "missing_line")
    assert ann.box_for_frame(500) == (None, "missing_line")


def test_read_face_file_reads_bytes_and_leaves_file_alone(tmp_path):
    path = tmp_path / "003-1-1-1-1.face"
    data = b"\xef\xbb\xbf100 120 260 310\r\n120  260 310\r\n"
    path.write_bytes(data)
    ann = read_face_file(path)
    assert ann.boxes == [(100, 120, 260, 310), (120, 120, 260, 310)]
    assert [r["kind"] for r in ann.repairs] == ["bom", "crlf", "missing_number"]
    assert path.read_bytes() == data


def test_read_face_file_not_utf8_raises(tmp_path):
    path = tmp_path / "x.face"
    path.write_bytes(b"\xff\xfe1 2 3 4\n")
    with pytest.raises(UnicodeDecodeError):
        read_face_file(path)


def test_repaired_box_is_valid_or_dropped():
    ann = parse_face_text("120 100  310\n")
    assert ann.boxes == [None]
    assert ann.sources == ["invalid_box"]
    assert [(r["kind"], r["value"], r["method"]) for r in ann.repairs] == [("missing_number", None, "dropped")]


@pytest.mark.parametrize("line", ["--1 2 3 4", "1 2 3 \u00b2", "1 2  \u00b2"])
def test_odd_number_tokens_are_unparseable_not_a_crash(line):
    ann = parse_face_text(line + "\n")
    assert ann.boxes == [None]
    assert ann.sources == ["unparseable"]
