"""Walk a registration photo tree `<root>/<user>/<file>.{jpg,jpeg,png}`.

Each user folder directly under the root holds that user's photos. Nothing in the
tree is ever written. Files elsewhere (at the root, deeper folders, other suffixes)
are counted as ignored and named in the log, never silently dropped from the count.
Any user or file name the file system allows is kept as it is (spaces, `..`, a newline);
a name that is not valid UTF-8 cannot be a table key and becomes a `bad_name` row with
the name shown escaped.

`check_photo_source` refuses, before any work, a `--source` that holds no photo in a user
folder (an empty folder, a SiW video tree, one user's folder) and says what to pass.

The tree is a local folder or a prefix on object storage (`s3://bucket/prefix`), read
through `etl.sources.files` either way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from etl.sources.files import SourceFolder, source_folder
from etl.sources.photo_layout import PHOTO_LAYOUT, PHOTO_SUFFIXES, holds_photos, photo_user_folders
from etl.sources.siw_tree import (
    VIDEO_FILES,
    VIDEO_SUFFIXES,
    NotASourceError,
    check_source_folder,
    count_files,
    fingerprint_in,
    is_siw_tree,
    local_path,
    plural,
    shown_path,
)
from schemas.vocabulary import PhotoStatus

log = logging.getLogger(f"facelake.{__name__}")


@dataclass
class PhotoSource:
    """A photo of a photo tree: a `SourceItem` keyed by `photo_id`."""

    photo_id: str  # "<user>/<file>"
    user: str
    source_root: str
    rel_path: str
    size_bytes: int | None
    fingerprint: str | None
    status: str | None = None  # None: ready to process; else why it cannot be
    status_reason: str | None = None

    @property
    def source_id(self) -> str:
        """The photo's key in `photos` (`SourceItem`)."""
        return self.photo_id

    @property
    def abs_path(self) -> Path:
        """The photo's local path; ValueError for a source on object storage (read it with `read_bytes`)."""
        return local_path(self.source_root, self.rel_path)

    def read_bytes(self) -> bytes:
        """The photo's bytes, wherever its source lives (the task makes its own file system from `source_root`)."""
        return source_folder(self.source_root).read_bytes(self.rel_path)

    @property
    def processable(self) -> bool:
        return self.status is None


@dataclass
class PhotoScan:
    source_root: str
    photos: list[PhotoSource]
    ignored: list[str] = field(default_factory=list)


def check_photo_source(source: str) -> None:
    """Raise NotASourceError unless `source` holds at least one photo in a user folder."""
    root = check_source_folder(source, f"a photo tree ({PHOTO_LAYOUT})")
    if photo_user_folders(root):
        return
    hint = _not_photos_hint(root, source)
    raise NotASourceError(f"{source} is not a photo tree: expected {PHOTO_LAYOUT}; {hint}", option="source")


def _not_photos_hint(root: SourceFolder, given: str) -> str:
    if is_siw_tree(root):
        return f"it is a SiW video tree: ingest it with `facelake ingest --source {given} --lake LAKE`"
    parents = root.parents()
    tree = next((a for a in parents[:3] if is_siw_tree(a)), None)
    if tree is not None:
        shown = tree.shown(given)
        return (
            f"it is part of the SiW video tree {shown}: ingest that with `facelake ingest --source {shown} --lake LAKE`"
        )
    if holds_photos(root) and parents:
        parent = parents[0].shown(given)
        return (
            "it holds photos itself, as one user's folder would: pass the folder holding the user folders, "
            f"such as its parent {parent}"
        )
    videos, _ = count_files(root, VIDEO_SUFFIXES)
    if videos:
        return (
            f"it holds {plural(videos, VIDEO_FILES + ' video')} and no photo: videos go in with `facelake ingest` "
            "(a SiW tree)"
        )
    photos, complete = count_files(root, PHOTO_SUFFIXES)
    if photos:
        return (
            f"its {plural(photos, 'photo')} are deeper than <root>/<user>/: "
            "pass the folder whose subfolders are the users"
        )
    if root.is_empty():
        return "the folder is empty"
    return "no .jpg/.jpeg/.png photo in it" if complete else "no .jpg/.jpeg/.png photo among its first files"


def scan_photo_tree(root: Path | str) -> PhotoScan:
    """Every `<user>/<photo>` of the photo tree `root` (a local folder or a URI) as a PhotoSource."""
    folder = source_folder(root)
    if folder.kind() != "folder":
        raise FileNotFoundError(
            f"photo source {folder.location} is not a folder; pass the root holding one folder per user"
        )
    photos: list[PhotoSource] = []
    ignored: list[str] = []
    for user, is_folder in folder.entries():
        if not is_folder:
            ignored.append(shown_path(user))
            continue
        for rel_in_user in folder.child(user).walk():
            rel = f"{user}/{rel_in_user}"
            if "/" in rel_in_user or not rel_in_user.lower().endswith(PHOTO_SUFFIXES):
                ignored.append(shown_path(rel))
                continue
            photos.append(_photo_source(folder, user, rel))
    if ignored:
        log.info(
            "ignored %d files that are not <user>/<photo>.{jpg,jpeg,png}: %s%s",
            len(ignored),
            ", ".join(ignored[:5]),
            " ..." if len(ignored) > 5 else "",
        )
    return PhotoScan(source_root=folder.location, photos=photos, ignored=ignored)


def _photo_source(root: SourceFolder, user: str, rel: str) -> PhotoSource:
    shown = shown_path(rel)
    if shown != rel:
        # not processed: the id, user and path columns must hold valid text
        return PhotoSource(
            photo_id=shown,
            user=shown_path(user),
            source_root=root.location,
            rel_path=shown,
            size_bytes=None,
            fingerprint=None,
            status=PhotoStatus.BAD_NAME,
            status_reason="the path is not valid UTF-8 (undecodable bytes are shown as \\xNN);"
            " rename the folder or file to register it",
        )
    photo = PhotoSource(
        photo_id=rel, user=user, source_root=root.location, rel_path=rel, size_bytes=None, fingerprint=None
    )
    try:
        facts = root.stat(rel)
        photo.size_bytes = facts.size
        if facts.not_regular:
            photo.status, photo.status_reason = PhotoStatus.UNREADABLE, facts.not_regular
            return photo
        if photo.size_bytes == 0:
            photo.status, photo.status_reason = PhotoStatus.EMPTY_FILE, "the file is empty (0 bytes)"
            return photo
        photo.fingerprint = fingerprint_in(root, rel, facts.size)
    except OSError as error:
        photo.status, photo.status_reason = PhotoStatus.UNREADABLE, f"cannot read the file: {error.strerror or error}"
    return photo
