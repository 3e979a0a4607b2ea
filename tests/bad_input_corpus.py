"""A bad-input corpus, generated (no committed binaries): good items plus one bad item per kind.

`write_video_corpus` builds a SiW tree for `facelake ingest`, `write_photo_corpus` a photo
tree for `facelake register`. Each comes with a clean twin holding only the good items at
the same relative paths: the clean twin is the sample tree or photo registry the package's
own generators write (real faces shipped in installed packages), and the corpus is that
twin plus the bad items. What a run of the twin gives for the good items is what they
must give in the corpus.

Every bad item is a `BadItem`: its kind, the table and key its row must have, and where
it lies in the tree. The unreadable kinds (mode 000) are unreadable to the jobs even when
the tests run as root: the tests run the jobs held to permission bits
(`conftest.without_root_file_access`).
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from etl.synthetic.face_photos import FacePhoto, load_face_photos
from etl.synthetic.siw_tree import write_video as write_sample_video
from etl.synthetic.videos import render_video

log = logging.getLogger(__name__)

SAMPLE_ARGS = {"subjects": 2, "seconds": 0.4, "seed": 11}  # 13 videos of 12 frames
FPS = 30
FRAME_SIZE = (640, 480)
N_FRAMES = 12
DEFECT_LINE = 3  # the 1-based `.face` line that carries a line defect
EXTRA_FACE_LINES = 5
BIG_FRAME_SIZE = (3840, 2160)  # rendered at 640x360 and upscaled 6x: rendering 4K directly takes seconds a frame
BIG_FRAMES = 4
PHOTO_USERS = ("user_01", "user_04", "user_07")  # their folders hold the registry's none, multi and second-pass photos
NOT_UTF8 = "caf\udce9"  # the bytes b"caf\xe9" (Latin-1 'café') as Python names them
NOT_UTF8_SHOWN = "caf\\xe9"  # how facelake shows that name

Box = list[int]


@dataclass(frozen=True)
class BadItem:
    kind: str
    table: str  # videos | photos
    key: str  # the video_id / photo_id its row must have
    path: str  # its path relative to the tree root, as facelake shows it
    source: str  # what holds it, relative to the tree root as the OS names it: its own folder (videos) or file (photos)


@dataclass
class CorpusTrees:
    clean: Path  # the good items only
    corpus: Path  # the good items at the same relative paths, plus the bad ones
    items: dict[str, BadItem] = field(default_factory=dict)
    good: list[str] = field(default_factory=list)  # good items a sub-corpus keeps (file paths relative to the root)


# ------------------------------------------------------------------ small writers


def write_video(path: Path, frames: list[np.ndarray], *, frame_size: tuple[int, int], fps: int = FPS) -> None:
    """RGB frames to an mp4v `.mov` (the codec the sample tree uses), its folder made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_sample_video(path, frames, fps=fps, frame_size=frame_size)


def face_lines(boxes: list[Box | None]) -> list[str]:
    return [" ".join(str(v) for v in box) if box is not None else "0 0 0 0" for box in boxes]


def write_text(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)


SELF_LINK, NAMED_PIPE = "a symlink to itself", "a named pipe"  # special files, not bytes


@dataclass(frozen=True)
class Unreadable:
    """A file holding `data` whose permission bits (000) let nobody read it."""

    data: bytes


def place(path: Path, content: bytes | str | Unreadable) -> None:
    """Write `content` at `path`: bytes, or a link to itself, or a named pipe, or an unreadable file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if content == SELF_LINK:
        os.symlink(path.name, path)
    elif content == NAMED_PIPE:
        os.mkfifo(path)
    elif isinstance(content, Unreadable):
        path.write_bytes(content.data)
        path.chmod(0)
    else:
        path.write_bytes(content)


def link_entry(source: Path, target: Path) -> None:
    """`source` (a file, a link, a named pipe, or a folder of them) again at `target`, without opening a file:
    files are hard-linked (same bytes, same mode, even 000), links and pipes made anew."""
    info = os.lstat(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    if stat.S_ISDIR(info.st_mode):
        target.mkdir(exist_ok=True)
        for child in sorted(os.listdir(source)):
            link_entry(source / child, target / child)
    elif stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(source), target)
    elif stat.S_ISFIFO(info.st_mode):
        os.mkfifo(target)
    else:
        os.link(source, target)


def _top_level_box(data: bytes, kind: bytes) -> tuple[int, int]:
    """(start, end) of the first top-level box of type `kind` in a QuickTime file."""
    offset = 0
    while offset + 8 <= len(data):
        size = struct.unpack(">I", data[offset : offset + 4])[0]
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        if data[offset + 4 : offset + 8] == kind:
            return offset, offset + size
        offset += size
    raise ValueError(f"no top-level {kind!r} box")


def set_display_rotation_90(path: Path) -> None:
    """Write a 90-degree-clockwise display matrix into the video track's `tkhd`.

    OpenCV's writer cannot set rotation metadata; the matrix is a fixed 36-byte field of
    the track header, so it is patched in place, as a phone writes it.
    """
    data = bytearray(path.read_bytes())
    start, end = _top_level_box(bytes(data), b"moov")
    at = data.find(b"tkhd", start, end)
    if at < 0:
        raise ValueError(f"{path} has no tkhd box")
    version = data[at + 4]
    # type(4) version/flags(4) times, track id, duration(20 or 32) reserved(8) layer, group, volume, reserved(8)
    matrix = at + 8 + (32 if version == 1 else 20) + 16
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))


# ------------------------------------------------------------------ videos


def lf_text(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


class _SiwWriter:
    """Renders live videos of the shipped faces into a SiW tree, one subject per bad item."""

    def __init__(self, root: Path, copy_source: Path) -> None:
        self.root, self.copy_source = root, copy_source
        self.photos = load_face_photos()

    @staticmethod
    def stem(subject: int) -> str:
        return f"{subject:03d}-1-1-1-1"

    def rel(self, subject: int, name: str | None = None) -> str:
        return f"{self.folder(subject)}/{name or self.stem(subject) + '.mov'}"

    def video_id(self, subject: int) -> str:
        return self.rel(subject)[: -len(".mov")]

    @staticmethod
    def folder(subject: int) -> str:
        return f"Train/live/{subject:03d}"

    def render(
        self, subject: int, *, frame_size: tuple[int, int] = FRAME_SIZE, n_frames: int = N_FRAMES
    ) -> tuple[list[np.ndarray], list[Box | None]]:
        photo = self.photos[subject % len(self.photos)]
        rendered = list(
            render_video(
                photo,
                kind="live",
                n_frames=n_frames,
                rng=np.random.default_rng([subject]),
                fps=FPS,
                frame_size=frame_size,
            )
        )
        return [f.image for f in rendered], [list(f.face_box) if f.face_box is not None else None for f in rendered]

    def video(self, subject: int, face: Callable[[list[str]], str | bytes] | None = lf_text) -> Path:
        """A rendered video and, unless `face` is None, the `.face` that `face` makes of its lines."""
        frames, boxes = self.render(subject)
        path = self.root / self.rel(subject)
        write_video(path, frames, frame_size=FRAME_SIZE)
        if face is not None:
            write_text(path.with_suffix(".face"), face(face_lines(boxes)))
        return path


def _face_kind(face: Callable[[list[str]], str | bytes] | None) -> Callable[[_SiwWriter, int], str]:
    """A kind that is a good rendered video with the `.face` that `face` makes of its lines."""

    def make(w: _SiwWriter, s: int) -> str:
        w.video(s, face)
        return w.video_id(s)

    return make


def _line_defect(change: Callable[[list[int]], str]) -> Callable[[list[str]], str]:
    """`.face` text with line DEFECT_LINE replaced by `change(its box)`."""

    def text(lines: list[str]) -> str:
        box = [int(v) for v in lines[DEFECT_LINE - 1].split()]
        if box == [0, 0, 0, 0]:
            raise RuntimeError("the defect line has no face; pick another DEFECT_LINE")
        return lf_text(lines[: DEFECT_LINE - 1] + [change(box)] + lines[DEFECT_LINE:])

    return text


def _video_zero_bytes(w: _SiwWriter, s: int) -> str:
    write_text(w.root / w.rel(s), b"")
    write_text(w.root / w.rel(s, w.stem(s) + ".face"), "100 100 200 200\n")
    return w.video_id(s)


def _video_truncated(w: _SiwWriter, s: int) -> str:
    path = w.video(s)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.4)])  # the moov index at the end is lost
    return w.video_id(s)


def _video_text_file(w: _SiwWriter, s: int) -> str:
    write_text(w.root / w.rel(s), "These are my notes about the recording session, not a video.\n")
    return w.video_id(s)


def _video_no_frames(w: _SiwWriter, s: int) -> str:
    path = w.root / w.rel(s)
    write_video(path, [], frame_size=FRAME_SIZE)  # a recorder stopped before its first frame
    return w.video_id(s)


def _video_4k(w: _SiwWriter, s: int) -> str:
    small = (BIG_FRAME_SIZE[0] // 6, BIG_FRAME_SIZE[1] // 6)
    frames, boxes = w.render(s, frame_size=small, n_frames=BIG_FRAMES)
    big = [cv2.resize(f, BIG_FRAME_SIZE, interpolation=cv2.INTER_LINEAR) for f in frames]
    path = w.root / w.rel(s)
    write_video(path, big, frame_size=BIG_FRAME_SIZE)
    scaled = [[v * 6 for v in box] if box else None for box in boxes]
    write_text(path.with_suffix(".face"), lf_text(face_lines(scaled)))
    return w.video_id(s)


def _video_rotated(w: _SiwWriter, s: int) -> str:
    """Pixels stored sideways (as a phone held upright stores them) with a 90-degree display matrix."""
    frames, boxes = w.render(s)
    path = w.root / w.rel(s)
    stored = [np.ascontiguousarray(np.rot90(f, 1)) for f in frames]  # counter-clockwise; display turns it back
    write_video(path, stored, frame_size=(FRAME_SIZE[1], FRAME_SIZE[0]))
    set_display_rotation_90(path)
    _check_rotation_decodes_upright(path, frames[0])
    write_text(path.with_suffix(".face"), lf_text(face_lines(boxes)))  # in display coordinates
    return w.video_id(s)


def _check_rotation_decodes_upright(path: Path, upright: np.ndarray) -> None:
    capture = cv2.VideoCapture(str(path))
    ok, bgr = capture.read()
    capture.release()
    if not ok or bgr.shape[:2] != upright.shape[:2]:
        raise RuntimeError(
            f"{path.name}: OpenCV did not apply the display matrix (got {None if not ok else bgr.shape})"
        )
    error = np.abs(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.int16) - upright.astype(np.int16)).mean()
    if error > 20:
        raise RuntimeError(f"{path.name}: decoded frame is not the upright one (mean error {error:.1f})")


def _name_not_siw(w: _SiwWriter, s: int) -> str:
    frames, _ = w.render(s)
    rel = w.rel(s, f"{s:03d}-1-1-1.mov")  # four fields instead of five
    write_video(w.root / rel, frames, frame_size=FRAME_SIZE)
    return rel


def _name_not_utf8(w: _SiwWriter, s: int) -> str:
    write_text(w.root / w.rel(s, f"{NOT_UTF8}.mov"), b"\0" * 64)
    return w.rel(s, f"{NOT_UTF8_SHOWN}.mov")


def _unreadable(w: _SiwWriter, s: int) -> str:
    path = w.video(s)
    path.chmod(0)
    return w.video_id(s)


def _special(content: str) -> Callable[[_SiwWriter, int], str]:
    def make(w: _SiwWriter, s: int) -> str:
        place(w.root / w.rel(s), content)
        return w.video_id(s)

    return make


def _duplicate_content(w: _SiwWriter, s: int) -> str:
    """A byte copy of a good sample video (and its .face) under another SiW name that sorts after it."""
    original = w.copy_source
    target = w.root / w.rel(s)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(original, target)
    shutil.copyfile(original.with_suffix(".face"), target.with_suffix(".face"))
    return w.rel(s)  # not processed: keyed by its path, as a duplicate_name is


# kind -> (subject number, maker returning the row key). Subjects 101+ never clash with the sample's.
VIDEO_KINDS: dict[str, tuple[int, Callable[[_SiwWriter, int], str]]] = {
    "video_zero_bytes": (101, _video_zero_bytes),
    "video_truncated": (102, _video_truncated),
    "video_text_file": (103, _video_text_file),
    "video_no_frames": (104, _video_no_frames),
    "video_4k_frames": (105, _video_4k),
    "video_rotation_metadata": (106, _video_rotated),
    "face_missing": (107, _face_kind(None)),
    "face_empty": (108, _face_kind(lambda lines: b"")),
    "face_non_numeric": (109, _face_kind(_line_defect(lambda b: f"{b[0]} {b[1]} abc {b[3]}"))),
    "face_negative_box": (110, _face_kind(_line_defect(lambda b: f"-40 -30 {b[2]} {b[3]}"))),
    "face_out_of_frame": (111, _face_kind(_line_defect(lambda b: "700 500 800 600"))),
    "face_x2_before_x1": (112, _face_kind(_line_defect(lambda b: f"{b[2]} {b[1]} {b[0]} {b[3]}"))),
    "face_five_numbers": (113, _face_kind(_line_defect(lambda b: " ".join(map(str, b)) + " 1"))),
    "face_crlf": (114, _face_kind(lambda lines: "".join(f"{line}\r\n" for line in lines))),
    "face_utf8_bom": (115, _face_kind(lambda lines: "\ufeff" + lf_text(lines))),
    "face_more_lines_than_frames": (116, _face_kind(lambda lines: lf_text(lines + lines[-1:] * EXTRA_FACE_LINES))),
    "name_not_siw": (117, _name_not_siw),
    "name_not_utf8": (118, _name_not_utf8),
    "file_unreadable": (119, _unreadable),
    "file_symlink_loop": (120, _special(SELF_LINK)),
    "file_named_pipe": (121, _special(NAMED_PIPE)),
    "file_duplicate_content": (122, _duplicate_content),
}


def write_video_corpus(base: Path) -> CorpusTrees:
    """`base/clean`: the sample SiW tree; `base/corpus`: the same plus one bad item per VIDEO_KINDS."""
    from etl.synthetic.siw_tree import write_sample_tree

    clean, corpus = base / "clean", base / "corpus"
    manifest = write_sample_tree(clean, **SAMPLE_ARGS)
    shutil.copytree(clean, corpus, symlinks=True)
    # the copied video: a defect-free Train one, whose path sorts before Train/live/1xx
    original = next(v.path for v in manifest.videos if not v.defects and v.split == "train" and v.label == "live")
    writer = _SiwWriter(corpus, clean / original)
    face = next(v.face_path for v in manifest.videos if v.path == original)
    trees = CorpusTrees(clean=clean, corpus=corpus, good=[original, face])  # the copied video: a sub-corpus keeps it
    for kind, (subject, make) in VIDEO_KINDS.items():
        key = make(writer, subject)
        path = key if key.endswith(".mov") else key + ".mov"
        trees.items[kind] = BadItem(kind, "videos", key, path, source=writer.folder(subject))
    log.info("video corpus: %d bad kinds under %s", len(trees.items), corpus)
    return trees


# ------------------------------------------------------------------ photos


def _jpeg(rgb: np.ndarray, *, mode: str = "RGB", exif: bytes | None = None) -> bytes:
    from PIL import Image

    image = Image.fromarray(rgb).convert(mode)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=92, **({"exif": exif} if exif else {}))
    return out.getvalue()


def _png(array: np.ndarray, mode: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(array, mode=mode).save(out, format="PNG")
    return out.getvalue()


def _exif_orientation(value: int) -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = value  # Orientation
    return exif.tobytes()


def _exif_rotated(face: FacePhoto) -> bytes:
    """Pixels stored sideways with EXIF Orientation 6 (display = rotate 90 clockwise), as cameras write."""
    upright = np.pad(face.image, ((0, 0), (0, 120), (0, 0)), constant_values=128)  # not square: the turn shows
    return _jpeg(np.ascontiguousarray(np.rot90(upright, 1)), exif=_exif_orientation(6))


def _alpha_png(face: FacePhoto) -> bytes:
    """A cut-out: opaque ellipse around the face, transparent (and black) outside."""
    height, width = face.image.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (width // 2, height // 2), (width * 9 // 20, height * 9 // 20), 0, 0, 360, 255, -1)
    rgba = np.dstack([face.image * (mask[..., None] > 0), mask]).astype(np.uint8)
    return _png(rgba, "RGBA")


def _photo_kinds(faces: list[FacePhoto]) -> dict[str, tuple[str, bytes | str | Unreadable]]:
    """kind -> (path under the photo root, the file's bytes, SELF_LINK / NAMED_PIPE, or Unreadable(bytes))."""
    return {
        "photo_not_image": ("formats/not_an_image.jpg", b"<html><body>404 Not Found</body></html>\n"),
        "photo_exif_rotated": ("formats/exif_rotated.jpg", _exif_rotated(faces[0])),
        "photo_1x1": ("formats/one_pixel.png", _png(np.full((1, 1, 3), 200, np.uint8), "RGB")),
        "photo_greyscale": ("formats/greyscale.jpg", _jpeg(faces[1].image, mode="L")),
        "photo_cmyk_jpeg": ("formats/cmyk.jpg", _jpeg(faces[2].image, mode="CMYK")),
        "photo_png_alpha": ("formats/alpha.png", _alpha_png(faces[3])),
        "photo_zero_bytes": ("formats/empty.jpg", b""),
        "photo_unreadable": ("formats/unreadable.jpg", Unreadable(_jpeg(faces[1].image))),
        "photo_symlink_loop": ("formats/loop.jpg", SELF_LINK),
        "photo_named_pipe": ("formats/pipe.jpg", NAMED_PIPE),
        "user_dots": ("..dots../01.jpg", _jpeg(faces[4].image)),
        "user_space_unicode": ("Zoë Ångström 李/01.jpg", _jpeg(faces[5].image)),
        "user_newline": ("new\nline/01.jpg", _jpeg(faces[6].image)),
        "user_quote": ("o'brien/01.jpg", _jpeg(faces[7].image)),
        "user_not_utf8": (f"{NOT_UTF8}/01.jpg", _jpeg(faces[0].image)),
    }


def write_photo_corpus(base: Path, registry: Path) -> CorpusTrees:
    """`base/clean`: the photo registry at `registry` (`etl.synthetic.photo_registry`) cut to PHOTO_USERS;
    `base/corpus`: the same plus the bad photos."""
    clean, corpus = base / "clean", base / "corpus"
    for user in PHOTO_USERS:  # three users keep the runs short
        shutil.copytree(registry / user, clean / user)
    shutil.copytree(clean, corpus, symlinks=True)
    first = min(p.relative_to(clean).as_posix() for p in clean.rglob("*.jpg"))
    trees = CorpusTrees(clean=clean, corpus=corpus, good=[first])
    for kind, (rel, content) in _photo_kinds(load_face_photos()).items():
        place(corpus / rel, content)
        shown = rel.replace(NOT_UTF8, NOT_UTF8_SHOWN)
        trees.items[kind] = BadItem(kind, "photos", shown, shown, source=rel)
    log.info("photo corpus: %d bad kinds under %s", len(trees.items), corpus)
    return trees
