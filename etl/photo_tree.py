"""Walk a registration photo tree `<root>/<user>/<file>.{jpg,jpeg,png}`.

Each user folder directly under the root holds that user's photos. Nothing in the
tree is ever written. Files elsewhere (at the root, deeper folders, other suffixes)
are counted as ignored and named in the log, never silently dropped from the count.
Any user or file name the file system allows is kept as it is (spaces, `..`, a newline);
a name that is not valid UTF-8 cannot be a table key and becomes a `bad_name` row with
the name shown escaped.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from etl.scan import fingerprint_file, not_regular_reason, shown_path

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class PhotoSource:
    photo_id: str  # "<user>/<file>"
    user: str
    source_root: str
    rel_path: str
    size_bytes: int | None
    fingerprint: str | None
    status: str | None = None  # None: ready to process; else why it cannot be
    status_reason: str | None = None

    @property
    def abs_path(self) -> Path:
        return Path(self.source_root) / self.rel_path

    @property
    def processable(self) -> bool:
        return self.status is None


@dataclass
class PhotoScan:
    source_root: str
    photos: list[PhotoSource]
    ignored: list[str] = field(default_factory=list)


def scan_photo_tree(root: Path | str) -> PhotoScan:
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"photo source {root} is not a folder; pass the root holding one folder per user")
    photos: list[PhotoSource] = []
    ignored: list[str] = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.is_dir(follow_symlinks=False):
            ignored.append(shown_path(entry.name))
            continue
        for directory, subdirs, files in os.walk(entry.path, followlinks=False):
            subdirs.sort()
            rel_dir = Path(directory).relative_to(root).as_posix()
            for name in sorted(files):
                rel = f"{rel_dir}/{name}"
                if directory != entry.path or not name.lower().endswith(PHOTO_SUFFIXES):
                    ignored.append(shown_path(rel))
                    continue
                photos.append(_photo_source(root, entry.name, rel))
    if ignored:
        log.info("ignored %d files that are not <user>/<photo>.{jpg,jpeg,png}: %s%s", len(ignored),
                 ", ".join(ignored[:5]), " ..." if len(ignored) > 5 else "")
    return PhotoScan(source_root=str(root), photos=photos, ignored=ignored)


def _photo_source(root: Path, user: str, rel: str) -> PhotoSource:
    shown = shown_path(rel)
    if shown != rel:
        # not processed: the id, user and path columns must hold valid text
        return PhotoSource(photo_id=shown, user=shown_path(user), source_root=str(root), rel_path=shown, size_bytes=None,
                           fingerprint=None, status="bad_name",
                           status_reason="the path is not valid UTF-8 (undecodable bytes are shown as \\xNN);"
                                         " rename the folder or file to register it")
    photo = PhotoSource(photo_id=rel, user=user, source_root=str(root), rel_path=rel, size_bytes=None, fingerprint=None)
    path = root / rel
    try:
        info = path.stat()
        photo.size_bytes = info.st_size
        not_regular = not_regular_reason(info.st_mode)
        if not_regular:
            photo.status, photo.status_reason = "unreadable", not_regular
            return photo
        if photo.size_bytes == 0:
            photo.status, photo.status_reason = "empty_file", "the file is empty (0 bytes)"
            return photo
        photo.fingerprint = fingerprint_file(path)
    except OSError as error:
        photo.status, photo.status_reason = "unreadable", f"cannot read the file: {error.strerror or error}"
    return photo
