"""Walk a SiW source tree: names, `.face` annotations (repaired while read), fingerprints.

Nothing in the source tree is ever written, renamed or repaired on disk. Every `.mov`
found becomes a `VideoSource`; those that cannot be processed carry a status and a
reason instead of vanishing: a bad or non-UTF-8 name, an unreadable file or one that is
not a regular file (a named pipe would block the reader), an empty file, a second copy
of a SiW name or of the same bytes. Other files are counted and named in the log.
"""
from __future__ import annotations

import filecmp
import hashlib
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from etl.face_file import FaceAnnotations, read_face_file
from etl.siw_names import SiwName, SiwNameError, parse_siw_path

log = logging.getLogger(__name__)

VIDEO_SUFFIX = ".mov"
FINGERPRINT_EDGE_BYTES = 64 * 1024


@dataclass
class VideoSource:
    video_id: str
    source_root: str
    rel_path: str
    name: SiwName | None
    size_bytes: int
    fingerprint: str | None
    face_rel_path: str | None = None
    annotations: FaceAnnotations | None = None
    status: str | None = None  # None: ready to process; else why it cannot be
    status_reason: str | None = None
    face_error: str | None = None  # why the .face beside it could not be read
    content_key: str | None = None  # fingerprint of the video bytes alone, to find copies

    @property
    def abs_path(self) -> Path:
        return Path(self.source_root) / self.rel_path

    @property
    def processable(self) -> bool:
        return self.status is None


@dataclass
class ScanResult:
    source_root: str
    videos: list[VideoSource]
    orphan_face_files: list[str] = field(default_factory=list)
    ignored_files: int = 0


def _edge_digest(path: Path) -> "hashlib.blake2b":
    """blake2b over the size and the first and last 64 KiB of a file, still open to updates."""
    size = path.stat().st_size
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(FINGERPRINT_EDGE_BYTES))
        if size > FINGERPRINT_EDGE_BYTES:
            handle.seek(max(FINGERPRINT_EDGE_BYTES, size - FINGERPRINT_EDGE_BYTES))
            digest.update(handle.read(FINGERPRINT_EDGE_BYTES))
    return digest


def fingerprint_file(path: Path, extra: bytes = b"") -> str:
    """Content fingerprint: size, first and last 64 KiB, plus `extra` (the .face bytes).

    Reading the edges instead of whole 1080p videos keeps a rescan of 4,478 videos cheap;
    re-encoding or truncating a video changes its size or its edges.
    """
    digest = _edge_digest(path)
    digest.update(extra)
    return digest.hexdigest()


def shown_path(rel: str) -> str:
    """`rel` as text a table can hold: bytes that are not UTF-8 shown as `\\xNN` escapes.

    Python hands such names over with surrogate escapes, which Arrow refuses to store.
    """
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def not_regular_reason(mode: int) -> str | None:
    """Why a path whose `st_mode` is `mode` is not read as a file, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kinds = {stat.S_ISFIFO: "a named pipe", stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a character device",
             stat.S_ISBLK: "a block device", stat.S_ISDIR: "a folder"}
    kind = next((name for test, name in kinds.items() if test(mode)), "a special file")
    # opening a named pipe would wait forever for a writer: such entries are never opened
    return f"it is {kind}, not a regular file; not read"


def _walk(root: Path) -> tuple[list[str], set[str], list[str]]:
    videos, faces, ignored = [], set(), []
    for directory, subdirs, files in os.walk(root, followlinks=False):
        subdirs.sort()
        for name in sorted(files):
            rel = PurePosixPath(Path(directory).relative_to(root).as_posix(), name).as_posix()
            rel = rel[2:] if rel.startswith("./") else rel
            lower = name.lower()
            if lower.endswith(VIDEO_SUFFIX):
                videos.append(rel)
            elif lower.endswith(".face"):
                faces.add(rel)
            else:
                ignored.append(shown_path(rel))
    return videos, faces, ignored


def _face_candidates(rel_video: str, name: SiwName | None) -> list[str]:
    parent = PurePosixPath(rel_video).parent
    stems = [name.stem] if name else []
    raw_stem = PurePosixPath(rel_video).name[: -len(VIDEO_SUFFIX)]
    if raw_stem not in stems:
        stems.append(raw_stem)
    return [(parent / f"{stem}.face").as_posix() for stem in stems]


def scan_source(root: Path | str) -> ScanResult:
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"source {root} is not a folder; pass the root of a SiW tree (the folder holding Train/ and Test/)")
    video_paths, face_paths, ignored = _walk(root)
    used_faces: set[str] = set()
    seen_ids: dict[str, str] = {}
    videos: list[VideoSource] = []
    # plain names before `.m.mov` so the plain one keeps the canonical id when both exist
    for rel in sorted(video_paths, key=lambda p: (p.lower().endswith(".m.mov"), p)):
        videos.append(_scan_one(root, rel, face_paths, used_faces, seen_ids))
    _mark_copies(videos)
    videos.sort(key=lambda v: v.video_id)
    orphans = sorted(face_paths - used_faces)
    for orphan in orphans:
        log.warning("orphan .face file without a video: %s", shown_path(orphan))
    if ignored:
        log.info("ignored %d files that are neither .mov nor .face: %s%s", len(ignored), ", ".join(ignored[:5]),
                 " ..." if len(ignored) > 5 else "")
    return ScanResult(source_root=str(root), videos=videos, orphan_face_files=orphans, ignored_files=len(ignored))


def _scan_one(root: Path, rel: str, face_paths: set[str], used_faces: set[str], seen_ids: dict[str, str]) -> VideoSource:
    path = root / rel
    shown = shown_path(rel)
    if shown != rel:
        # not processed: every table column that names the file must hold valid text
        video = VideoSource(video_id=shown, source_root=str(root), rel_path=shown, name=None, size_bytes=0, fingerprint=None)
        return _fail(video, "bad_name", "the path is not valid UTF-8 (undecodable bytes are shown as \\xNN);"
                                        " rename it (SiW names are ASCII)")
    try:
        name: SiwName | None = parse_siw_path(rel)
        name_error = None
    except SiwNameError as error:
        name, name_error = None, str(error)
    face_rel = next((c for c in _face_candidates(rel, name) if c in face_paths), None)
    if face_rel:
        used_faces.add(face_rel)
    video = VideoSource(
        video_id=name.video_id if name else rel,
        source_root=str(root),
        rel_path=rel,
        name=name,
        size_bytes=0,
        fingerprint=None,
        face_rel_path=face_rel,
    )
    try:
        info = path.stat()
        video.size_bytes = info.st_size
        not_regular = not_regular_reason(info.st_mode)
        if not_regular:
            return _fail(video, "unreadable", f"{rel}: {not_regular}")
        face_bytes = (root / face_rel).read_bytes() if face_rel else b""
        edges = _edge_digest(path)
        video.content_key = edges.hexdigest()
        edges.update(face_bytes)
        video.fingerprint = edges.hexdigest()
    except OSError as error:
        return _fail(video, "unreadable", f"cannot read {rel}: {error.strerror or error}")
    if name_error:
        return _fail(video, "bad_name", name_error)
    if name.video_id in seen_ids:
        video.video_id = rel
        return _fail(video, "duplicate_name", f"same SiW video as {seen_ids[name.video_id]}; not processed twice")
    seen_ids[name.video_id] = rel
    if video.size_bytes == 0:
        return _fail(video, "empty_file", f"{rel} is empty (0 bytes)")
    if face_rel:
        _read_annotations(video, root / face_rel)
    return video


def _read_annotations(video: VideoSource, face_path: Path) -> None:
    """Attach the parsed `.face`, or say on the video why there is no usable one."""
    try:
        annotations = read_face_file(face_path)
    except (OSError, UnicodeDecodeError) as error:
        log.warning("unreadable .face %s: %s", video.face_rel_path, error)
        video.face_error = f"{video.face_rel_path} is unreadable ({type(error).__name__}: {error})"
        return
    if annotations.n_lines == 0:
        video.face_error = f"{video.face_rel_path} is empty (no line)"
        return
    video.annotations = annotations


def _mark_copies(videos: list[VideoSource]) -> None:
    """A processable video whose bytes equal an earlier one's is not processed twice.

    Earlier means first in scan order (by path, plain names before `.m.mov`). Its id
    becomes its path, as for `duplicate_name`: if the first copy goes away, the next
    scan processes this one under its canonical id.
    """
    first: dict[str, VideoSource] = {}
    for video in videos:
        if not video.processable or video.content_key is None:
            continue
        original = first.setdefault(video.content_key, video)
        if original is not video and _same_bytes(original.abs_path, video.abs_path):
            video.video_id = video.rel_path
            _fail(video, "duplicate_content", f"same bytes as {original.rel_path}; not processed twice")


def _same_bytes(a: Path, b: Path) -> bool:
    """Whole-file equality, asked only when size and edges already match (rare, so cheap)."""
    try:
        return filecmp.cmp(a, b, shallow=False)
    except OSError as error:  # gone or unreadable since the scan read it: processing will say so
        log.warning("cannot compare %s with %s: %s", a, b, error)
        return False


def _fail(video: VideoSource, status: str, reason: str) -> VideoSource:
    video.status, video.status_reason = status, reason
    log.info("%s: %s (%s)", video.rel_path, status, reason)
    return video
