"""Walk a SiW source tree: names, `.face` annotations (repaired while read), fingerprints.

Nothing in the source tree is ever written, renamed or repaired on disk. Every `.mov`
found becomes a `VideoSource`; those that cannot be processed carry a status and a
reason instead of vanishing.
"""
from __future__ import annotations

import hashlib
import logging
import os
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


def fingerprint_file(path: Path, extra: bytes = b"") -> str:
    """Content fingerprint: size, first and last 64 KiB, plus `extra` (the .face bytes).

    Reading the edges instead of whole 1080p videos keeps a rescan of 4,478 videos cheap;
    re-encoding or truncating a video changes its size or its edges.
    """
    size = path.stat().st_size
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(FINGERPRINT_EDGE_BYTES))
        if size > FINGERPRINT_EDGE_BYTES:
            handle.seek(max(FINGERPRINT_EDGE_BYTES, size - FINGERPRINT_EDGE_BYTES))
            digest.update(handle.read(FINGERPRINT_EDGE_BYTES))
    digest.update(extra)
    return digest.hexdigest()


def _walk(root: Path) -> tuple[list[str], set[str], int]:
    videos, faces, ignored = [], set(), 0
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
                ignored += 1
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
    videos.sort(key=lambda v: v.video_id)
    orphans = sorted(face_paths - used_faces)
    for orphan in orphans:
        log.warning("orphan .face file without a video: %s", orphan)
    return ScanResult(source_root=str(root), videos=videos, orphan_face_files=orphans, ignored_files=ignored)


def _scan_one(root: Path, rel: str, face_paths: set[str], used_faces: set[str], seen_ids: dict[str, str]) -> VideoSource:
    path = root / rel
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
        video.size_bytes = path.stat().st_size
        face_bytes = (root / face_rel).read_bytes() if face_rel else b""
        video.fingerprint = fingerprint_file(path, extra=face_bytes)
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
        try:
            video.annotations = read_face_file(root / face_rel)
        except (OSError, UnicodeDecodeError) as error:
            log.warning("unreadable .face %s: %s", face_rel, error)
            video.annotations = None
            video.face_error = f"{face_rel} is unreadable ({type(error).__name__}: {error})"
    return video


def _fail(video: VideoSource, status: str, reason: str) -> VideoSource:
    video.status, video.status_reason = status, reason
    log.info("%s: %s (%s)", video.rel_path, status, reason)
    return video
