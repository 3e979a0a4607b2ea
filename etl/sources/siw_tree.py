"""Walk a SiW source tree: names, `.face` annotations (repaired while read), fingerprints.

Nothing in the source tree is ever written, renamed or repaired on disk. Every `.mov`
(or `.mp4`) found becomes a `VideoSource`; those that cannot be processed carry a status
and a reason instead of vanishing: a bad or non-UTF-8 name, an unreadable file or one that
is not a regular file (a named pipe would block the reader), an empty file, a second copy
of a SiW name or of the same bytes. Two files of one SiW video (`X.mov` beside `X.mp4` or
`X.m.mov`) are one id: the first by `VIDEO_FORM_ORDER` (`.mov`, `.mp4`, `.m.mov`, `.m.mp4`)
keeps it, the others become `duplicate_name` rows keyed by their path. Other files are
counted and named in the log.

`check_siw_source` tells a SiW tree from a wrong `--source` before any work: a folder
with no `Train/` or `Test/` folder holding `live/` or `spoof/` (an empty folder, a
photo tree, one split folder of a tree) is refused with what was expected and, where it
can tell, what to pass instead. Inside a SiW tree every `.mov` and `.mp4` is scanned, badly
named ones included: they become rows with a status, as above.

The tree is a local folder or a prefix on object storage (`s3://bucket/prefix`): both are
read through `etl.sources.files`, one code path; a video's fingerprint is the same wherever
its bytes are.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from etl.errors import UsageError
from etl.lake.storage import S3_SCHEMES, is_object_store
from etl.sources.face_file import FaceAnnotations, parse_face_text
from etl.sources.files import (  # noqa: F401 - not_regular_reason and shown_source are this module's API too
    LocalFolder,
    SourceFolder,
    SourceLocationError,
    as_folder,
    not_regular_reason,
    shown_source,
    source_folder,
)
from etl.sources.photo_layout import PHOTO_SUFFIXES, photo_user_folders
from etl.sources.siw_names import (
    LABELS,
    SPLITS,
    VIDEO_SUFFIXES,
    SiwName,
    SiwNameError,
    form_rank,
    parse_siw_path,
    video_suffix,
)
from schemas.vocabulary import VideoStatus

log = logging.getLogger(f"facelake.{__name__}")

FINGERPRINT_EDGE_BYTES = 64 * 1024
SIW_LAYOUT = (
    "Train/ and/or Test/ folders holding live/ and spoof/ with SSS/SSS-sensor-type-medium-session.mov "
    "videos (.m.mov and .mp4 too)"
)
VIDEO_FILES = ".mov/.mp4"  # how messages name the video files a tree holds
# how far the checks of a refused source look, so that a mistaken --source / stays cheap
HINT_FOLDERS = 200
HINT_FILES = 20_000


class NotASourceError(UsageError):
    """A source (or a lake inside it) that is not the kind of tree the job reads; the message says what was
    expected. A `UsageError` (exit 2), and so a ValueError as before."""


@dataclass
class VideoSource:
    """A video of a SiW tree: a `SourceItem` keyed by `video_id`, with its `.face` beside it."""

    video_id: str
    source_root: str
    rel_path: str
    name: SiwName | None
    size_bytes: int
    fingerprint: str | None
    face_rel_path: str | None = None
    # the usable `.face` as text (about 20 bytes a line), parsed where it is used (`annotations`): a scan of
    # SiW's 2 million lines holds some 40 MB instead of the ~350 MB of parsed boxes
    face_text: str | None = None
    face_lines: int = 0
    status: str | None = None  # None: ready to process; else why it cannot be
    status_reason: str | None = None
    face_error: str | None = None  # why the .face beside it could not be read
    content_key: str | None = None  # fingerprint of the video bytes alone, to find copies

    @functools.cached_property
    def annotations(self) -> FaceAnnotations | None:
        """The parsed, repaired `.face` (None without a usable one); parsed once per process that asks."""
        return parse_face_text(self.face_text) if self.face_text is not None else None

    @property
    def source_id(self) -> str:
        """The video's key in `videos` (`SourceItem`)."""
        return self.video_id

    @property
    def abs_path(self) -> Path:
        """The video's local path; ValueError for a source on object storage (read it with `etl.sources.files`)."""
        return local_path(self.source_root, self.rel_path)

    @property
    def processable(self) -> bool:
        return self.status is None


def local_path(source_root: str, rel_path: str) -> Path:
    """`rel_path` under a local `source_root`; ValueError when the root is a URI (no local path)."""
    if is_object_store(source_root):
        raise ValueError(
            f"{source_root} is on object storage: its files have no local path; "
            "read them with etl.sources.files.source_folder(source_root)"
        )
    return Path(source_root) / rel_path


@dataclass
class ScanResult:
    source_root: str
    videos: list[VideoSource]
    orphan_face_files: list[str] = field(default_factory=list)
    ignored_files: int = 0


def edge_digest(folder: SourceFolder, rel: str, size: int) -> "hashlib.blake2b":
    """blake2b over the size and the first and last 64 KiB of the file `rel` of `folder`, still open to
    updates: two ranged reads, whether the file is local or an object."""
    ranges = [(0, FINGERPRINT_EDGE_BYTES)]
    if size > FINGERPRINT_EDGE_BYTES:
        ranges.append((max(FINGERPRINT_EDGE_BYTES, size - FINGERPRINT_EDGE_BYTES), FINGERPRINT_EDGE_BYTES))
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str(size).encode())
    for chunk in folder.read_ranges(rel, ranges):
        digest.update(chunk)
    return digest


def fingerprint_file(path: Path | str, extra: bytes = b"") -> str:
    """Content fingerprint of a local file or a URI: size, first and last 64 KiB, plus `extra` (the .face bytes).

    Reading the edges instead of whole 1080p videos keeps a rescan of 4,478 videos cheap;
    re-encoding or truncating a video changes its size or its edges.
    """
    if is_object_store(str(path)):
        location, _, name = str(path).rpartition("/")
        folder = source_folder(location)
    else:
        folder, name = LocalFolder(Path(path).parent), Path(path).name
    return fingerprint_in(folder, name, folder.stat(name).size, extra)


def fingerprint_in(folder: SourceFolder, rel: str, size: int, extra: bytes = b"") -> str:
    """`fingerprint_file` of the file `rel` of `folder`, whose size is known."""
    digest = edge_digest(folder, rel, size)
    digest.update(extra)
    return digest.hexdigest()


def shown_path(rel: str) -> str:
    """`rel` as text a table can hold: bytes that are not UTF-8 shown as `\\xNN` escapes.

    Python hands such names over with surrogate escapes, which Arrow refuses to store.
    """
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _walk(root: SourceFolder) -> tuple[list[str], set[str], list[str]]:
    videos, faces, ignored = [], set(), []
    for rel in root.walk():
        name = rel.rpartition("/")[2]
        if video_suffix(name):
            videos.append(rel)
        elif name.lower().endswith(".face"):
            faces.add(rel)
        else:
            ignored.append(shown_path(rel))
    return videos, faces, ignored


def _face_candidates(rel_video: str, name: SiwName | None) -> list[str]:
    parent = PurePosixPath(rel_video).parent
    stems = [name.stem] if name else []
    file_name = PurePosixPath(rel_video).name
    raw_stem = file_name[: -len(video_suffix(file_name) or "")]
    if raw_stem not in stems:
        stems.append(raw_stem)
    return [(parent / f"{stem}.face").as_posix() for stem in stems]


def is_siw_tree(root: SourceFolder | Path | str) -> bool:
    """Whether `root` holds a Train/ or Test/ folder with live/ or spoof/ in it (names matched ignoring
    case, as `etl.sources.siw_names` does), even with no video yet."""
    folder = as_folder(root)
    return any(
        split.lower() in SPLITS and any(label.lower() in LABELS for label in folder.child(split).subfolders())
        for split in folder.subfolders()
    )


def is_empty_folder(path: SourceFolder | Path | str) -> bool:
    """Whether nothing is in the folder `path`; OSError when it cannot be read."""
    return as_folder(path).is_empty()


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def count_files(root: SourceFolder | Path | str, suffixes: tuple[str, ...]) -> tuple[int, bool]:
    """(files under `root` whose name ends with one of `suffixes`, whether every file was looked at);
    stops after HINT_FILES files."""
    seen = count = 0
    for rel in as_folder(root).walk():
        seen += 1
        count += rel.rpartition("/")[2].lower().endswith(suffixes)
        if seen >= HINT_FILES:
            return count, False
    return count, True


def check_source_folder(source: str, what: str) -> SourceFolder:
    """The folder `source` names (a local path resolved, or a URI), or NotASourceError when nothing is
    there, it is a file, or it cannot be read. Nothing is created."""
    try:
        folder = source_folder(source)
        kind = folder.kind()
        if kind == "folder":
            folder.is_empty()  # can it be read at all
    except SourceLocationError as error:
        raise NotASourceError(error.message, option="source") from error
    except OSError as error:
        raise NotASourceError(f"{source} cannot be read: {error.strerror or error}", option="source") from error
    if kind == "missing":
        raise NotASourceError(f"{source} is not a folder (nothing is there); pass the root of {what}", option="source")
    if kind == "file":
        raise NotASourceError(f"{source} is not a folder (it is a file); pass the root of {what}", option="source")
    return folder


def check_siw_source(source: str) -> None:
    """Raise NotASourceError unless `source` is a SiW tree: a folder holding `Train/` or `Test/`
    with `live/` or `spoof/` in it. Such a tree with no video yet passes (nothing to do)."""
    root = check_source_folder(source, f"a SiW tree ({SIW_LAYOUT})")
    if is_siw_tree(root):
        return
    raise NotASourceError(
        f"{source} is not a SiW tree: expected {SIW_LAYOUT}; {_not_siw_hint(root, source)}", option="source"
    )


def check_lake_outside_source(lake: str, source: str) -> None:
    """NotASourceError when `lake` is the `source` folder or inside it (both local, or both on one
    object store): the scan would read the lake's own files as part of the source, run after run."""
    lake_place, source_place = _place(lake), _place(source)
    if lake_place[0] != source_place[0]:
        return
    lake_parts, source_parts = lake_place[1], source_place[1]
    if lake_parts[: len(source_parts)] == source_parts:
        inside = f"is inside {{option:source}} {source}"
        where = "is the {option:source} folder itself" if lake_parts == source_parts else inside
        raise NotASourceError(
            f"{lake} {where}: put the lake outside the source tree "
            "(a scan would read the lake's files as source files)",
            option="lake",
        )


def _place(root: str) -> tuple[str, tuple[str, ...]]:
    """(the store, the path's parts in it) of a local path or a URI, to tell whether one holds the other."""
    if not is_object_store(root):
        return "", Path(root).resolve().parts
    parsed = urlparse(root)
    scheme = parsed.scheme.lower()
    if scheme == "file":
        return "", Path(parsed.path or "/").resolve().parts
    store = f"s3://{parsed.netloc}" if scheme in S3_SCHEMES else f"{scheme}://{parsed.netloc}"
    return store, tuple(part for part in parsed.path.split("/") if part)


def _not_siw_hint(root: SourceFolder, given: str) -> str:
    """What `root` looks like instead, and what to pass when that can be told."""
    for level, ancestor in enumerate(root.parents()[:3], start=1):
        if is_siw_tree(ancestor):
            which = "its parent" if level == 1 else f"the folder {level} levels up"
            shown = ancestor.shown(given)
            return f"it is part of the SiW tree {shown}: pass {which}, {shown}"
    nested = _nested_siw_tree(root)
    if nested is not None:
        return f"the SiW tree seems to be {nested.shown(given)}: pass that folder"
    splits = [name for name in root.subfolders() if name.lower() in SPLITS]
    if splits:
        return f"{splits[0]}/ holds no live/ or spoof/ folder"
    users = photo_user_folders(root)
    if users:
        return (
            f"it looks like a photo tree ({len(users)} user folders of {'/'.join(PHOTO_SUFFIXES)} photos): "
            f"register it with `facelake register --source {given} --lake LAKE`"
        )
    videos, complete = count_files(root, VIDEO_SUFFIXES)
    if videos:
        more = "" if complete else " or more"
        return f"it holds {plural(videos, VIDEO_FILES + ' file')}{more}, none under Train/ or Test/ and live/ or spoof/"
    if is_empty_folder(root):
        return "the folder is empty"
    photos, _ = count_files(root, PHOTO_SUFFIXES)
    if photos:
        return (
            f"it holds {plural(photos, 'photo')} and no {VIDEO_FILES} video: "
            "photos go in with `facelake register` (<root>/<user>/*.jpg)"
        )
    if complete:
        return f"it holds no {VIDEO_FILES} file"
    return f"no {VIDEO_FILES} file among its first {HINT_FILES} files"


def _nested_siw_tree(root: SourceFolder) -> SourceFolder | None:
    """A SiW tree one or two folders below `root` (`--source demo` for `demo/siw`), looking at most
    at HINT_FOLDERS folders."""
    level = [root.child(name) for name in root.subfolders()]
    looked = 0
    for _ in range(2):
        below = []
        for folder in level:
            looked += 1
            if looked > HINT_FOLDERS:
                return None
            if is_siw_tree(folder):
                return folder
            below += [folder.child(name) for name in folder.subfolders()]
        level = below
    return None


def scan_source(root: Path | str) -> ScanResult:
    """Every `.mov` and `.mp4` under the SiW tree `root` (a local folder or a URI) as a VideoSource, by video id."""
    folder = source_folder(root)
    if folder.kind() != "folder":
        raise FileNotFoundError(
            f"source {folder.location} is not a folder; pass the root of a SiW tree "
            "(the folder holding Train/ and Test/)"
        )
    video_paths, face_paths, ignored = _walk(folder)
    used_faces: set[str] = set()
    seen_ids: dict[str, str] = {}
    videos: list[VideoSource] = []
    # one SiW video in several files (X.mov, X.mp4, X.m.mov): the first by VIDEO_FORM_ORDER keeps the canonical id
    for rel in sorted(video_paths, key=lambda p: (form_rank(p.rpartition("/")[2]), p)):
        videos.append(_scan_one(folder, rel, face_paths, used_faces, seen_ids))
    _mark_copies(folder, videos)
    videos.sort(key=lambda v: v.video_id)
    orphans = sorted(face_paths - used_faces)
    for orphan in orphans:
        log.warning("orphan .face file without a video: %s", shown_path(orphan))
    if ignored:
        log.info(
            "ignored %d files that are neither .mov/.mp4 nor .face: %s%s",
            len(ignored),
            ", ".join(ignored[:5]),
            " ..." if len(ignored) > 5 else "",
        )
    return ScanResult(source_root=folder.location, videos=videos, orphan_face_files=orphans, ignored_files=len(ignored))


def _scan_one(
    root: SourceFolder, rel: str, face_paths: set[str], used_faces: set[str], seen_ids: dict[str, str]
) -> VideoSource:
    shown = shown_path(rel)
    if shown != rel:
        # not processed: every table column that names the file must hold valid text
        video = VideoSource(
            video_id=shown, source_root=root.location, rel_path=shown, name=None, size_bytes=0, fingerprint=None
        )
        return _fail(
            video,
            VideoStatus.BAD_NAME,
            "the path is not valid UTF-8 (undecodable bytes are shown as \\xNN); rename it (SiW names are ASCII)",
        )
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
        source_root=root.location,
        rel_path=rel,
        name=name,
        size_bytes=0,
        fingerprint=None,
        face_rel_path=face_rel,
    )
    try:
        facts = root.stat(rel)
        video.size_bytes = facts.size
        if facts.not_regular:
            return _fail(video, VideoStatus.UNREADABLE, f"{rel}: {facts.not_regular}")
        face_bytes = root.read_bytes(face_rel) if face_rel else b""
        edges = edge_digest(root, rel, facts.size)
        video.content_key = edges.hexdigest()
        edges.update(face_bytes)
        video.fingerprint = edges.hexdigest()
    except OSError as error:
        return _fail(video, VideoStatus.UNREADABLE, f"cannot read {rel}: {error.strerror or error}")
    if name_error:
        return _fail(video, VideoStatus.BAD_NAME, name_error)
    if name.video_id in seen_ids:
        video.video_id = rel
        return _fail(
            video, VideoStatus.DUPLICATE_NAME, f"same SiW video as {seen_ids[name.video_id]}; not processed twice"
        )
    seen_ids[name.video_id] = rel
    if video.size_bytes == 0:
        return _fail(video, VideoStatus.EMPTY_FILE, f"{rel} is empty (0 bytes)")
    if face_rel:
        _read_annotations(video, face_bytes)
    return video


def _read_annotations(video: VideoSource, face_bytes: bytes) -> None:
    """Attach the parsed `.face` (the bytes the fingerprint was made of), or say on the video why there is no
    usable one."""
    try:
        annotations = parse_face_text(face_bytes.decode("utf-8"))
    except UnicodeDecodeError as error:
        log.warning("unreadable .face %s: %s", video.face_rel_path, error)
        video.face_error = f"{video.face_rel_path} is unreadable ({type(error).__name__}: {error})"
        return
    if annotations.n_lines == 0:
        video.face_error = f"{video.face_rel_path} is empty (no line)"
        return
    video.face_text, video.face_lines = face_bytes.decode("utf-8"), annotations.n_lines


def _mark_copies(root: SourceFolder, videos: list[VideoSource]) -> None:
    """A processable video whose bytes equal an earlier one's is not processed twice.

    Earlier means first in scan order (by name form, plain `.mov` first, then by path). Its id
    becomes its path, as for `duplicate_name`: if the first copy goes away, the next
    scan processes this one under its canonical id.
    """
    first: dict[str, VideoSource] = {}
    for video in videos:
        if not video.processable or video.content_key is None:
            continue
        original = first.setdefault(video.content_key, video)
        if original is not video and _same_bytes(root, original.rel_path, video.rel_path):
            video.video_id = video.rel_path
            _fail(video, VideoStatus.DUPLICATE_CONTENT, f"same bytes as {original.rel_path}; not processed twice")


def _same_bytes(root: SourceFolder, a: str, b: str) -> bool:
    """Whole-file equality, asked only when size and edges already match (rare, so cheap)."""
    try:
        return root.same_bytes(a, b)
    except OSError as error:  # gone or unreadable since the scan read it: processing will say so
        log.warning("cannot compare %s with %s: %s", root.location_of(a), root.location_of(b), error)
        return False


def _fail(video: VideoSource, status: VideoStatus, reason: str) -> VideoSource:
    video.status, video.status_reason = status, reason
    log.info("%s: %s (%s)", video.rel_path, status, reason)
    return video
