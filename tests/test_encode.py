"""Image cells: PNG is lossless with facelake's fast settings (the pixels stored are the pixels given),
JPEG is not, and a bad format or undecodable bytes are errors."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from etl.faces.encode import decode_image, encode_image
from etl.synthetic.face_photos import load_face_photos


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    photo = load_face_photos()[0].image
    return np.ascontiguousarray(photo[: min(photo.shape[:2]), : min(photo.shape[:2])])


def _png_row_filters(data: bytes, width: int) -> set[int]:
    """The filter type byte of every row of an 8-bit RGB PNG (inflated from its IDAT chunks)."""
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * 3
    return {raw[row * stride] for row in range(len(raw) // stride)}


def test_png_round_trips_every_pixel_exactly(face):
    data = encode_image(face, "png")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(decode_image(data), face)


def test_png_rows_after_the_first_use_the_up_filter(face):
    # filter 2 ("up") on every row: the first row's "up" is against zeros, which libpng writes as "none" (0)
    filters = _png_row_filters(encode_image(face, "png"), face.shape[1])
    assert filters <= {0, 2} and 2 in filters


def test_jpeg_is_smaller_and_close(face):
    jpeg, png = encode_image(face, "jpeg"), encode_image(face, "png")
    assert jpeg[:3] == b"\xff\xd8\xff" and len(jpeg) < len(png)
    assert np.abs(decode_image(jpeg).astype(int) - face).mean() < 3


def test_unknown_format_and_bad_bytes_are_errors(face):
    with pytest.raises(ValueError, match="not one of png, jpeg"):
        encode_image(face, "webp")
    with pytest.raises(ValueError, match="not a decodable image"):
        decode_image(b"not an image")
