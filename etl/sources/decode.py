"""Sequential video decoding with OpenCV (the same decoder for ingest, baseline and bench),
and, for a file OpenCV cannot open, why not (read from its QuickTime/MP4 box structure)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from etl.errors import DataError


class VideoDecodeError(DataError):
    """The file cannot be opened or decoded as a video (a `DataError`, so a RuntimeError as before)."""


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
        raise VideoDecodeError(f"cannot open {path.name} as a video: {diagnose_container(path)}")
    return capture


# Box types a QuickTime/MP4 file can start with (ISO/IEC 14496-12 and Apple's QTFF).
_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"uuid", b"meta"}
_MAX_MOOV_BYTES = 64 * 1024 * 1024  # a moov larger than this is not read whole to look for tracks


def _box_header(data: bytes, offset: int, remaining: int) -> tuple[bytes, int]:
    """(type, size) of the box whose header starts at data[offset]; size -1 when it cannot be."""
    size, kind, header = int.from_bytes(data[offset : offset + 4], "big"), data[offset + 4 : offset + 8], 8
    if size == 1:  # a 64-bit size follows the type
        if len(data) < offset + 16:
            return kind, -1
        size, header = int.from_bytes(data[offset + 8 : offset + 16], "big"), 16
    elif size == 0:  # the box runs to the end of the file
        size = remaining
    return kind, size if size >= header else -1


def diagnose_container(path: Path) -> str:
    """Why OpenCV could not open a file, in words, from its QuickTime/MP4 box structure.

    Reads the top-level box headers (16 bytes each) and the `moov` box; never the media.
    """
    try:
        with path.open("rb") as handle:
            return _diagnose(handle, path.stat().st_size)
    except OSError as error:
        return f"it cannot be read ({error.strerror or error})"


def _diagnose(handle: BinaryIO, file_size: int) -> str:
    head = handle.read(16)
    if len(head) < 8 or head[4:8] not in _FIRST_BOXES:
        return f"it is not a QuickTime/MP4 video (it starts with {head!r})"
    offset, kinds, moov = 0, set(), None
    while offset + 8 <= file_size:
        handle.seek(offset)
        kind, size = _box_header(handle.read(16), 0, file_size - offset)
        if size < 0:
            return f"it is damaged: the {_name(kind)} box at byte {offset} has an impossible size"
        if offset + size > file_size:
            return (
                f"it is truncated: the file ends at byte {file_size}, inside its {_name(kind)} box"
                f" that should end at byte {offset + size}"
            )
        kinds.add(kind)
        if kind == b"moov" and size <= _MAX_MOOV_BYTES:
            handle.seek(offset)
            moov = handle.read(size)
        offset += size
    if b"moov" not in kinds:
        return "it has no 'moov' index (the recording was not finished, or the file was cut)"
    if moov is not None and not _has_video_track(moov):
        return "it holds no video track (no frame was recorded)"
    return "its video stream cannot be decoded (an unsupported codec or damaged data)"


def _has_video_track(moov: bytes) -> bool:
    offset = 8  # the moov header
    while offset + 8 <= len(moov):
        kind, size = _box_header(moov, offset, len(moov) - offset)
        if size < 0:
            return False
        if kind == b"trak":
            # the media handler: 'hdlr', version/flags (4), component type (4), handler type (4)
            at = moov.find(b"hdlr", offset, offset + size)
            if at >= 0 and moov[at + 12 : at + 16] == b"vide":
                return True
        offset += size
    return False


def _name(kind: bytes) -> str:
    return repr(kind.decode("latin-1"))


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
