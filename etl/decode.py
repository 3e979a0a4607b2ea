"""Sequential video decoding with OpenCV (the same decoder for ingest, baseline and bench)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


class VideoDecodeError(RuntimeError):
    """The file cannot be opened or decoded as a video."""


@dataclass(frozen=True)
class StreamInfo:
    frames: int  # what the container claims; may differ from what decodes
    fps: float
    width: int
    height: int


def _open(path: Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise VideoDecodeError(f"cannot open {path.name} as a video (truncated, corrupt or not a video)")
    return capture


def probe_video(path: Path) -> StreamInfo:
    capture = _open(path)
    try:
        info = StreamInfo(
            frames=int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0),
            fps=float(capture.get(cv2.CAP_PROP_FPS) or 0.0),
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
        )
    finally:
        capture.release()
    if info.width <= 0 or info.height <= 0:
        raise VideoDecodeError(f"{path.name} has no video stream with a frame size")
    return info


class FrameReader:
    """Sequential frames of a video, keeping every `stride`-th; counts the frames it saw.

    Frames skipped by the stride are grabbed, not decoded to images, which is cheaper.
    After iteration, `frames_seen` is the number of frames in the stream (kept or not),
    the figure to compare with a `.face` line count.
    """

    def __init__(self, path: Path, *, stride: int = 1) -> None:
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.path, self.stride, self.frames_seen = path, stride, 0

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        capture = _open(self.path)
        try:
            index = 0
            while True:
                if index % self.stride == 0:
                    ok, bgr = capture.read()
                    if not ok:
                        break
                    self.frames_seen = index + 1
                    yield index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                elif not capture.grab():
                    break
                else:
                    self.frames_seen = index + 1
                index += 1
        finally:
            capture.release()


def iter_frames(path: Path, *, stride: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame index, RGB frame) for every `stride`-th frame, decoding sequentially."""
    return iter(FrameReader(path, stride=stride))
