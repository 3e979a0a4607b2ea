"""Sharpness scores (the original SiW Android app's blur gate, checked against an independent numpy version), the
profile a trained model records of its training faces, and the gate `facelake predict` derives from it."""

import cv2
import numpy as np
import pytest

from etl.faces.sharpness import ANDROID_BLUR_GATE, android_sharpness_count, laplacian_variance


def _reference_response(rgb: np.ndarray) -> np.ndarray:
    """The notes' rule, written out in numpy, in exact integer arithmetic (everything x100):
    256x256 INTER_LINEAR, grey 0.3/0.59/0.11, 3x3 Laplacian [[0,1,0],[1,-4,1],[0,1,0]]
    with a replicated border. Returns 100 x the response."""
    resized = cv2.resize(rgb, (256, 256), interpolation=cv2.INTER_LINEAR).astype(np.int64)
    grey100 = 30 * resized[..., 0] + 59 * resized[..., 1] + 11 * resized[..., 2]
    p = np.pad(grey100, 1, mode="edge")
    return p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * p[1:-1, 1:-1]


def _reference_count(rgb: np.ndarray) -> int:
    response100 = _reference_response(rgb)
    # the comparison must not hinge on float rounding of a response of exactly 50
    assert not np.any(response100 == 5000)
    return int((response100 > 5000).sum())


def _checkerboard(height: int, width: int, square: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    white = ((y // square + x // square) % 2).astype(np.uint8) * 255
    return np.repeat(white[..., None], 3, axis=2)


def _texture(seed: int = 0, size: int = 256) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)


def test_gate_value():
    assert ANDROID_BLUR_GATE == 1000


@pytest.mark.parametrize("value", [0, 128, 255])
def test_flat_image_counts_zero(value):
    flat = np.full((300, 200, 3), value, dtype=np.uint8)
    assert android_sharpness_count(flat) == 0
    assert laplacian_variance(flat) == 0.0


def test_checkerboard_256_count_by_hand():
    # squares of 8 px on 256x256: a black pixel has response k*255 (k = white 4-neighbours),
    # a white pixel a negative one; so the count is the black pixels on a square edge:
    # per black 8x8 square, 8*8 - 6*6 = 28, minus the image-border sides (replicated border)
    board = _checkerboard(256, 256, 8)
    assert android_sharpness_count(board) == _reference_count(board)
    black = board[..., 0] == 0
    edge = np.zeros_like(black)
    edge[1:, :] |= black[1:, :] & ~black[:-1, :]
    edge[:-1, :] |= black[:-1, :] & ~black[1:, :]
    edge[:, 1:] |= black[:, 1:] & ~black[:, :-1]
    edge[:, :-1] |= black[:, :-1] & ~black[:, 1:]
    assert android_sharpness_count(board) == int(edge.sum())
    # 512 black squares with 28 edge pixels each; 64 square sides lie on the image border and
    # lose their 6 middle pixels; the 2 black corner squares lose their corner pixel too
    assert android_sharpness_count(board) == 512 * 28 - 64 * 6 - 2
    assert android_sharpness_count(board) >= ANDROID_BLUR_GATE


@pytest.mark.parametrize(
    ("height", "width", "square"),
    [(512, 512, 32), (128, 128, 8), (480, 640, 20), (200, 300, 15), (1080, 720, 45)],
)
def test_checkerboard_matches_reference(height, width, square):
    board = _checkerboard(height, width, square)
    expected = _reference_count(board)
    assert expected > 0
    assert android_sharpness_count(board) == expected


def test_coloured_image_uses_weighted_grey():
    # pure red vs pure blue stripes: the grey weights differ (0.3*255 = 76.5 vs 0.11*255 = 28.05),
    # so a red stripe beside black gives a response over 50 while a blue one does not
    red = np.zeros((256, 256, 3), dtype=np.uint8)
    red[:, ::4, 0] = 255
    blue = np.zeros((256, 256, 3), dtype=np.uint8)
    blue[:, ::4, 2] = 255
    # black columns beside the 64 red ones: 2 each, minus the left of column 0 (border)
    assert android_sharpness_count(red) == _reference_count(red) == 256 * (64 * 2 - 1)
    assert android_sharpness_count(blue) == _reference_count(blue) == 0
    bgr_swapped = red[..., ::-1].copy()  # the same stripes in blue: RGB order matters
    assert android_sharpness_count(bgr_swapped) == 0


def test_random_texture_matches_reference():
    image = _texture(3, 300)
    response100 = _reference_response(image)
    near = response100 == 5000
    expected = int((response100 > 5000).sum())
    # float32 arithmetic may only disagree with the exact rule on pixels exactly at 50
    assert abs(android_sharpness_count(image) - expected) <= int(near.sum())


def test_laplacian_variance_matches_reference_at_native_size():
    image = _texture(5, 256)
    wide = image.astype(np.int64)
    grey = (30 * wide[..., 0] + 59 * wide[..., 1] + 11 * wide[..., 2]) / 100.0
    p = np.pad(grey, 1, mode="edge")
    response = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4.0 * p[1:-1, 1:-1]
    assert laplacian_variance(image) == pytest.approx(float(response.var()), rel=1e-4)


def test_blur_lowers_both_scores():
    sharp = _checkerboard(256, 256, 4)
    sharp = cv2.addWeighted(sharp, 0.7, _texture(1, 256), 0.3, 0)
    blurred = cv2.GaussianBlur(sharp, (0, 0), sigmaX=3.0)
    more_blurred = cv2.GaussianBlur(sharp, (0, 0), sigmaX=6.0)
    assert laplacian_variance(blurred) < laplacian_variance(sharp)
    assert laplacian_variance(more_blurred) < laplacian_variance(blurred)
    assert android_sharpness_count(blurred) < android_sharpness_count(sharp)
    assert android_sharpness_count(sharp) >= ANDROID_BLUR_GATE
    assert android_sharpness_count(more_blurred) < ANDROID_BLUR_GATE
    assert android_sharpness_count(more_blurred) == _reference_count(more_blurred)


# ---------------------------------------------------------------- the gate recorded with a model, and predict's default


def test_sharpness_profile_gives_percentiles_a_training_face_has():
    from etl.train.export import sharpness_profile

    counts = [*range(100, 0, -1), None]  # 1..100 in any order; a face without a count is left out
    assert sharpness_profile(counts, None) == {"gate": None, "faces": 100, "p1": 1, "p5": 5, "p50": 50, "p95": 95}
    assert sharpness_profile([7, 3], 500) == {"gate": 500, "faces": 2, "p1": 3, "p5": 3, "p50": 3, "p95": 3}
    assert sharpness_profile([], None) == {"gate": None, "faces": 0, "p1": None, "p5": None, "p50": None, "p95": None}


def _model_info(sharpness):
    from etl.train.predict import ModelInfo

    return ModelInfo(threshold=0.5, input_size=48, backbone="MobileNet", protocol="P1", sharpness=sharpness)


def test_default_gate_is_the_training_gate_else_the_training_faces_p1_else_off():
    from etl.train.predict import default_sharpness_gate

    gate, source = default_sharpness_gate(_model_info({"gate": 400, "faces": 10, "p1": 3, "p5": 9, "p50": 700}))
    assert gate == 400 and "trained under" in source
    gate, source = default_sharpness_gate(_model_info({"gate": None, "faces": 176, "p1": 37, "p5": 90}))
    assert gate == 37 and source == "the 1st percentile of the model's 176 training faces"
    gate, source = default_sharpness_gate(_model_info(None))  # a model folder from before the profile
    assert gate == 0 and source.startswith("off: ") and "older facelake" in source


def test_min_sharpness_option_values():
    from etl.train.predict import parse_min_sharpness

    assert parse_min_sharpness("model") is None
    assert parse_min_sharpness("android") == ANDROID_BLUR_GATE == 1000
    assert parse_min_sharpness("OFF") == 0
    assert parse_min_sharpness("250") == 250
    for bad in ("-1", "sharp", "1.5"):
        with pytest.raises(ValueError, match="min_sharpness"):
            parse_min_sharpness(bad)


def test_model_info_reads_the_profile_and_works_without_it(tmp_path):
    import json

    from etl.train.predict import ModelInfo

    metrics = {"threshold": 0.4, "input_size": 48, "backbone": "MobileNet", "protocol": "P1"}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    assert ModelInfo.from_folder(tmp_path).sharpness is None
    profile = {"gate": None, "faces": 5, "p1": 2, "p5": 2, "p50": 9, "p95": 30}
    (tmp_path / "metrics.json").write_text(json.dumps({**metrics, "sharpness": profile}))
    assert ModelInfo.from_folder(tmp_path).sharpness == profile
    (tmp_path / "metrics.json").write_text(json.dumps({**metrics, "sharpness": 12}))
    with pytest.raises(ValueError, match="sharpness must be an object"):
        ModelInfo.from_folder(tmp_path)


def test_input_outcome_counts_each_input_once():
    from etl.train.predict import input_outcome

    photo = [{"status": "ok", "decision": "spoof"}, {"status": "too_blurry", "decision": None}]
    assert input_outcome(photo) == "spoof"  # the best face's
    video = [
        {"status": "ok", "decision": "spoof", "frame": 0},
        {"status": "ok", "decision": "live", "summary": True, "frame": None},
    ]
    assert input_outcome(video) == "live"  # the summary line's
    assert input_outcome([{"status": "too_blurry", "decision": None}]) == "too_blurry"
    assert input_outcome([{"status": "no_face", "decision": None}]) == "no_face"
    assert input_outcome([{"status": "error", "decision": None}]) == "unreadable"
    assert input_outcome([{"status": "unreadable", "decision": None, "summary": True}]) == "unreadable"
