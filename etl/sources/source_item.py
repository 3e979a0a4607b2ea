"""`SourceItem`: what a video of a SiW tree and a photo of a photo tree have in common.

`VideoSource` (`etl.sources.siw_tree`) and `PhotoSource` (`etl.sources.photo_tree`) both are one
file of a scanned source: where it is, how large, its fingerprint, and whether it can be processed
(`status` None) or why not. Code that treats either (`etl.ingest.plan`) takes a `SourceItem`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["SourceItem"]


@runtime_checkable
class SourceItem(Protocol):
    """One scanned source file (a video or a photo), as the planning of a run sees it."""

    @property
    def source_id(self) -> str:
        """The item's key in its table (`video_id`, `photo_id`)."""
        ...

    @property
    def source_root(self) -> str:
        """The tree's root as text (a local path or a URI), from which a task opens its own file system."""
        ...

    @property
    def rel_path(self) -> str:
        """The file's path below `source_root`, `/`-separated."""
        ...

    @property
    def size_bytes(self) -> int | None: ...

    @property
    def fingerprint(self) -> str | None:
        """What tells a changed file from an unchanged one (None when it could not be read)."""
        ...

    @property
    def status(self) -> str | None:
        """None: ready to process; else the status word of its row (why it cannot be processed)."""
        ...

    @property
    def status_reason(self) -> str | None: ...

    @property
    def abs_path(self) -> Path:
        """The file's local path; ValueError for a source on object storage."""
        ...

    @property
    def processable(self) -> bool: ...
