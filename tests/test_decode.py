"""Sequential decoding with a frame stride, on a real video written with OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from etl.sources.decode import FrameReader, VideoDecodeError, iter_frames, probe_video


@pytest.fixture(scope="module")
def ten_frames(tmp_path_factory):
    path = tmp_path_factory.mktemp("decode") / "ten.mov"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    for i in range(10):
        writer.write(np.full((48, 64, 3), i * 20, np.uint8))
    writer.release()
    return path


@pytest.mark.parametrize(("stride", "kept"), [(1, list(range(10))), (3, [0, 3, 6, 9]), (4, [0, 4, 8])])
def test_stride_keeps_every_nth_frame_and_counts_them_all(ten_frames, stride, kept):
    reader = FrameReader(ten_frames, stride=stride)
    frames = list(reader)
    assert [i for i, _ in frames] == kept
    assert reader.frames_seen == 10
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for _, f in frames)
    # the grey level written into frame i survives decoding (mp4v is lossy: within a few levels)
    assert [int(round(f.mean() / 20)) for _, f in frames] == kept


def test_probe_and_plain_iteration(ten_frames):
    info = probe_video(ten_frames)
    assert (info.frames, info.width, info.height) == (10, 64, 48) and info.fps == pytest.approx(30.0)
    assert sum(1 for _ in iter_frames(ten_frames)) == 10


def test_not_a_video_is_a_decode_error(tmp_path):
    path = tmp_path / "notes.mov"
    path.write_text("this is not a video\n")
    with pytest.raises(VideoDecodeError, match="cannot open notes.mov"):
        probe_video(path)
    with pytest.raises(ValueError, match="stride must be >= 1, got 0"):
        FrameReader(path, stride=0)
