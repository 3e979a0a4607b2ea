"""Where a source tree's files are read from: a local folder, or a prefix on object storage.

`source_folder(source)` gives a `SourceFolder` for a `--source`: a local path (read with
`os`, exactly as the scans always have), or a URI: `s3://bucket/prefix` (`s3a://` too),
reached with the lakes' storage options (`etl.lake.storage`: endpoint, credentials, retry bound),
or any other URI `pyarrow.fs.FileSystem.from_uri` understands (`file://` is a local folder).
The scans (`etl.sources.siw_tree`, `etl.sources.photo_tree`) list, stat and read through it, the Ray tasks read
their own file through it (`read_bytes`, `local_copy`). Nothing here writes to the source.

On object storage a "folder" is a key prefix: it exists when some key is under it (or a
zero-byte `prefix/` marker names it); a prefix with nothing under it is missing, as a local
folder that is not there. A file is read with ranged reads, never whole unless asked
(`read_bytes`, `local_copy`); reads that fail transiently are repeated
(`etl.lake.storage.with_read_retries`).

A `SourceFolder` holds a filesystem object: it stays in the process that made it. What
crosses into Ray tasks is the source root as text (`VideoSource.source_root`), from which
a task makes its own folder (`source_folder(root)`) with the environment it runs in.
"""

from __future__ import annotations

import bisect
import errno
import filecmp
import functools
import logging
import os
import shutil
import stat
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import urlparse

from etl.errors import UsageError
from etl.lake.storage import (
    S3_SCHEMES,
    arrow_path,
    arrow_s3_filesystem,
    is_object_store,
    resolve_storage_options,
    with_read_retries,
)

log = logging.getLogger(f"facelake.{__name__}")

Kind = Literal["folder", "file", "missing"]
COPY_CHUNK_BYTES = 8 * 1024 * 1024  # a remote file is copied, and compared, this much at a time


class SourceLocationError(UsageError):
    """A source that is neither a local path nor a URI some file system is known for (a `UsageError`, so a
    ValueError as before; `option` is `source`)."""


@dataclass(frozen=True)
class FileFacts:
    """What a scan needs to know of a file before reading it."""

    size: int
    not_regular: str | None = None  # why it is not read as a file (a pipe, a folder); None for a regular file


def not_regular_reason(mode: int) -> str | None:
    """Why a path whose `st_mode` is `mode` is not read as a file, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kinds = {
        stat.S_ISFIFO: "a named pipe",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISDIR: "a folder",
    }
    kind = next((name for test, name in kinds.items() if test(mode)), "a special file")
    # opening a named pipe would wait forever for a writer: such entries are never opened
    return f"it is {kind}, not a regular file; not read"


def shown_source(path: Path, given: str) -> str:
    """`path` as the user would write it: relative to the working folder when they gave a relative --source."""
    if os.path.isabs(given):
        return str(path)
    return os.path.relpath(path)


def walk_order(rel: str) -> tuple:
    """Sort key putting file paths in `os.walk` order (sorted, a folder's files before its subfolders)."""
    *folders, name = rel.split("/")
    return (*((1, folder) for folder in folders), (0, name))


class SourceFolder(ABC):
    """A folder of a source tree; file paths given to it are relative to it, with `/`."""

    location: str  # what messages and tables show: the resolved local path, or the URI

    @abstractmethod
    def kind(self) -> Kind:
        """What is at this location; OSError when that cannot be told."""

    @abstractmethod
    def entries(self) -> list[tuple[str, bool]]:
        """(name, is a folder) of what is directly in it, by name; links are not followed. OSError when unreadable."""

    @abstractmethod
    def walk(self) -> Iterator[str]:
        """The relative path of every file below it, in `os.walk` order; links to folders are not followed."""

    @abstractmethod
    def stat(self, rel: str) -> FileFacts:
        """Size and kind of the file `rel`; OSError when it cannot be had."""

    @abstractmethod
    def read_ranges(self, rel: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """The bytes of `rel` at each (offset, length), one open; short where the file ends first."""

    @abstractmethod
    def read_bytes(self, rel: str) -> bytes:
        """The whole file `rel` (for small files: `.face` files, photos)."""

    @abstractmethod
    def same_bytes(self, rel_a: str, rel_b: str) -> bool:
        """Whether two files hold the same bytes, compared chunk by chunk; OSError when one cannot be read."""

    @abstractmethod
    def local_copy(self, rel: str) -> AbstractContextManager[Path]:
        """Context manager: a local path holding the bytes of `rel` (the file itself when it is local)."""

    @abstractmethod
    def child(self, name: str) -> SourceFolder:
        """The folder `name` directly in this one."""

    @abstractmethod
    def parents(self) -> list[SourceFolder]:
        """The folders above this one, nearest first."""

    @abstractmethod
    def shown(self, given: str) -> str:
        """This folder as the user would write it, given that they passed `given` as --source."""

    def subfolders(self) -> list[str]:
        """Names of the folders directly in it; none when it cannot be read."""
        try:
            return [name for name, is_folder in self.entries() if is_folder]
        except OSError:
            return []

    def is_empty(self) -> bool:
        """Whether nothing is in it; OSError when unreadable."""
        return not self.entries()

    def location_of(self, rel: str) -> str:
        return f"{self.location}/{rel}"


class LocalFolder(SourceFolder):
    """A folder on a local (or mounted) file system, read with `os`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)

    def __repr__(self) -> str:
        return f"LocalFolder({self.location!r})"

    def kind(self) -> Kind:
        if not self.path.exists():
            return "missing"
        return "folder" if self.path.is_dir() else "file"

    def entries(self) -> list[tuple[str, bool]]:
        with os.scandir(self.path) as found:
            return sorted((e.name, e.is_dir(follow_symlinks=False)) for e in found)

    def is_empty(self) -> bool:
        with os.scandir(self.path) as found:
            return next(found, None) is None

    def walk(self) -> Iterator[str]:
        for directory, subdirs, files in os.walk(self.path, followlinks=False):
            subdirs.sort()
            for name in sorted(files):
                rel = PurePosixPath(Path(directory).relative_to(self.path).as_posix(), name).as_posix()
                yield rel[2:] if rel.startswith("./") else rel

    def stat(self, rel: str) -> FileFacts:
        info = (self.path / rel).stat()
        return FileFacts(size=info.st_size, not_regular=not_regular_reason(info.st_mode))

    def read_ranges(self, rel: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        out = []
        with (self.path / rel).open("rb") as handle:
            for offset, length in ranges:
                if offset:
                    handle.seek(offset)
                out.append(handle.read(length))
        return out

    def read_bytes(self, rel: str) -> bytes:
        return (self.path / rel).read_bytes()

    def same_bytes(self, rel_a: str, rel_b: str) -> bool:
        return filecmp.cmp(self.path / rel_a, self.path / rel_b, shallow=False)

    @contextmanager
    def local_copy(self, rel: str) -> Iterator[Path]:
        yield self.path / rel

    def child(self, name: str) -> LocalFolder:
        return LocalFolder(self.path / name)

    def parents(self) -> list[SourceFolder]:
        return [LocalFolder(parent) for parent in self.path.parents]

    def shown(self, given: str) -> str:
        return shown_source(self.path, given)


class _Listing:
    """The recursive listing of one prefix, made once when first needed and shared by its subfolders."""

    def __init__(self, filesystem, path: str) -> None:
        self.filesystem, self.path = filesystem, path
        self.sizes: dict[str, int] | None = None  # file path relative to `path` -> size
        self._files: list[str] = []  # the same paths, sorted, to find a subfolder's by bisection
        self._folders: list[str] = []  # every folder below `path`, sorted

    @property
    def loaded(self) -> bool:
        return self.sizes is not None

    def load(self) -> None:
        if self.sizes is not None:
            return
        from pyarrow.fs import FileSelector, FileType

        infos = self.filesystem.get_file_info(FileSelector(self.path, recursive=True))
        sizes, folders, start = {}, set(), len(self.path) + 1
        for info in infos:
            rel = info.path[start:].strip("/")
            if not rel:
                continue
            if info.type == FileType.Directory:
                folders.add(rel)
            elif info.type == FileType.File:
                sizes[rel] = info.size or 0
        for rel in sizes:  # every folder a file is in, whether the store listed it or not
            parts = rel.split("/")[:-1]
            folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        self.sizes, self._files, self._folders = sizes, sorted(sizes), sorted(folders)
        log.debug("listed %d files under %s", len(sizes), self.path)

    def files(self, within: str) -> list[str]:
        """The files below the subfolder `within` ("": all), relative to it."""
        return _below(self._files, within)

    def folders(self, within: str) -> list[str]:
        """The folders below the subfolder `within` ("": all), relative to it."""
        return _below(self._folders, within)


def _below(paths: list[str], within: str) -> list[str]:
    """The sorted `paths` that are under `within`, relative to it ("/" sorts just before "0")."""
    if not within:
        return paths
    start, stop = bisect.bisect_left(paths, within + "/"), bisect.bisect_left(paths, within + "0")
    return [path[len(within) + 1 :] for path in paths[start:stop]]


class RemoteFolder(SourceFolder):
    """A key prefix on object storage (or any pyarrow file system), read through `pyarrow.fs`."""

    def __init__(
        self,
        filesystem,
        path: str,
        uri: str,
        *,
        options: dict[str, str],
        listing: _Listing | None = None,
        within: str = "",
    ) -> None:
        self.filesystem, self.path, self.location = filesystem, path.rstrip("/"), uri.rstrip("/")
        self.options = options  # for the retry bound of reads; never shown
        self._listing, self._within = listing, within  # the shared listing, and this folder's place in it

    def __repr__(self) -> str:
        return f"RemoteFolder({self.location!r})"

    def _key(self, rel: str) -> str:
        return f"{self.path}/{rel}"

    def _read(self, read, what: str):
        return with_read_retries(read, options=self.options, what=what)

    def _loaded_listing(self) -> _Listing | None:
        """The shared listing, when one was already made (by a walk of this folder or of one above it)."""
        return self._listing if self._listing is not None and self._listing.loaded else None

    def kind(self) -> Kind:
        from pyarrow.fs import FileType

        found = self._read(lambda: self.filesystem.get_file_info(self.path), self.location).type
        if found == FileType.NotFound:
            return "missing"
        return "folder" if found == FileType.Directory else "file"

    def entries(self) -> list[tuple[str, bool]]:
        listing = self._loaded_listing()
        if listing is not None:
            files, folders = listing.files(self._within), listing.folders(self._within)
            return sorted(
                [(rel, False) for rel in files if "/" not in rel] + [(rel, True) for rel in folders if "/" not in rel]
            )
        from pyarrow.fs import FileSelector, FileType

        infos = self._read(
            lambda: self.filesystem.get_file_info(FileSelector(self.path, recursive=False)), self.location
        )
        start = len(self.path) + 1
        found = {(info.path[start:].strip("/"), info.type == FileType.Directory) for info in infos}
        return sorted(entry for entry in found if entry[0])

    def walk(self) -> Iterator[str]:
        if self._listing is None:
            self._listing = _Listing(self.filesystem, self.path)
        self._read(self._listing.load, self.location)
        yield from sorted(self._listing.files(self._within), key=walk_order)

    def stat(self, rel: str) -> FileFacts:
        listing = self._loaded_listing()
        size = listing.sizes.get(f"{self._within}/{rel}" if self._within else rel) if listing else None
        if size is not None:
            return FileFacts(size=size)
        from pyarrow.fs import FileType

        info = self._read(lambda: self.filesystem.get_file_info(self._key(rel)), self.location_of(rel))
        if info.type == FileType.NotFound:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), self.location_of(rel))
        if info.type == FileType.Directory:
            return FileFacts(size=0, not_regular=not_regular_reason(stat.S_IFDIR))
        return FileFacts(size=info.size or 0)

    def read_ranges(self, rel: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        def read() -> list[bytes]:
            with self.filesystem.open_input_file(self._key(rel)) as handle:
                return [handle.read_at(length, offset) if offset < handle.size() else b"" for offset, length in ranges]

        return self._read(read, self.location_of(rel))

    def read_bytes(self, rel: str) -> bytes:
        def read() -> bytes:
            with self.filesystem.open_input_stream(self._key(rel)) as handle:
                return handle.read()

        return self._read(read, self.location_of(rel))

    def _chunks(self, rel: str) -> Iterator[bytes]:
        with self.filesystem.open_input_stream(self._key(rel)) as handle:
            while chunk := handle.read(COPY_CHUNK_BYTES):
                yield chunk

    def same_bytes(self, rel_a: str, rel_b: str) -> bool:
        def compare() -> bool:
            with (
                self.filesystem.open_input_file(self._key(rel_a)) as a,
                self.filesystem.open_input_file(self._key(rel_b)) as b,
            ):
                size = a.size()
                if b.size() != size:
                    return False
                return all(
                    a.read_at(min(COPY_CHUNK_BYTES, size - offset), offset)
                    == b.read_at(min(COPY_CHUNK_BYTES, size - offset), offset)
                    for offset in range(0, size, COPY_CHUNK_BYTES)
                )

        return self._read(compare, self.location_of(rel_b))

    @contextmanager
    def local_copy(self, rel: str) -> Iterator[Path]:
        """The file copied, a chunk at a time, to a new folder in the temporary folder under its own name (messages
        that name the file read the same as for a local source); the folder is removed however the block ends."""
        folder = Path(tempfile.mkdtemp(prefix="facelake-source-", dir=tempfile.gettempdir()))
        target = folder / PurePosixPath(rel).name

        def copy() -> None:
            with target.open("wb") as out:
                for chunk in self._chunks(rel):
                    out.write(chunk)

        try:
            self._read(copy, self.location_of(rel))
            yield target
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def child(self, name: str) -> RemoteFolder:
        if self._listing is None:
            self._listing = _Listing(self.filesystem, self.path)
        within = f"{self._within}/{name}" if self._within else name
        return RemoteFolder(
            self.filesystem,
            self._key(name),
            self.location_of(name),
            options=self.options,
            listing=self._listing,
            within=within,
        )

    def parents(self) -> list[SourceFolder]:
        out: list[SourceFolder] = []
        path, uri = self.path, self.location
        # as many levels as the URI's path has (s3://bucket/a/b: s3://bucket/a, s3://bucket)
        for _ in range(len([part for part in urlparse(self.location).path.split("/") if part])):
            path, uri = path.rpartition("/")[0], uri.rpartition("/")[0]
            out.append(RemoteFolder(self.filesystem, path, uri, options=self.options))
        return out

    def shown(self, given: str) -> str:
        return self.location


def s3_filesystem(options: dict[str, str]):
    """pyarrow's S3FileSystem for these storage options, one per process and options (a task reading many
    photos reuses its connections)."""
    return _s3_filesystem(tuple(sorted(options.items())))


@functools.lru_cache(maxsize=8)
def _s3_filesystem(options: tuple[tuple[str, str], ...]):
    return arrow_s3_filesystem(dict(options))


def source_folder(source: str | Path, *, environ=None) -> SourceFolder:
    """The folder `source` names: a local path (resolved), or a URI (`s3://bucket/prefix`, `file:///path`, ...).

    Raises SourceLocationError for a URI no file system understands (StorageOptionsError for unusable
    storage options of an s3 URI, as for a lake).
    """
    text = str(source)
    if not is_object_store(text):
        return LocalFolder(Path(text).resolve())
    parsed = urlparse(text)
    scheme = parsed.scheme.lower()
    uri = f"{scheme}://{parsed.netloc}{parsed.path}".rstrip("/")
    if scheme == "file":
        return LocalFolder(Path(parsed.path or "/").resolve())
    if scheme in S3_SCHEMES:
        options = resolve_storage_options(text, environ)
        return RemoteFolder(s3_filesystem(options), arrow_path(uri), uri, options=options)
    from pyarrow.fs import FileSystem

    try:
        filesystem, path = FileSystem.from_uri(text)
    except Exception as error:  # noqa: BLE001 - pyarrow's ArrowInvalid and its kin, said in words
        raise SourceLocationError(
            f"{text} is not a path or a URI a file system is known for ({error}); pass a "
            "local folder or s3://bucket/prefix",
            option="source",
        ) from error
    return RemoteFolder(filesystem, path, uri, options={})


def is_empty_source_folder(source: str) -> bool:
    """Whether `source` is a folder (a local one, or an object-store prefix marked as a folder) with nothing in it."""
    try:
        folder = source_folder(source)
        return folder.kind() == "folder" and folder.is_empty()
    except (OSError, SourceLocationError):  # unreadable or unknown: the source check says why
        return False


def as_folder(root: SourceFolder | Path | str) -> SourceFolder:
    """`root` as a SourceFolder (a local path is not resolved: it is looked at as given)."""
    if isinstance(root, SourceFolder):
        return root
    return source_folder(root) if is_object_store(str(root)) else LocalFolder(Path(root))
