"""What a photo tree looks like: photo suffixes and the user folders that hold photos.

Apart from `photo_tree` so that the SiW scan can tell a user a folder is a photo tree
(`siw_tree`'s refusal hints) without the two scans importing each other.
"""

from __future__ import annotations

from pathlib import Path

from etl.sources.files import SourceFolder, as_folder

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
PHOTO_LAYOUT = "one folder per user directly inside it, holding that user's .jpg/.jpeg/.png photos"


def holds_photos(folder: SourceFolder) -> bool:
    """Whether a file (by its name: a bad one still becomes a row) in `folder` itself is a photo."""
    try:
        return any(not is_folder and name.lower().endswith(PHOTO_SUFFIXES) for name, is_folder in folder.entries())
    except OSError:
        return False


def photo_user_folders(root: SourceFolder | Path | str) -> list[str]:
    """The folders directly in `root` that hold photos directly: the users `scan_photo_tree` finds."""
    folder = as_folder(root)
    return [name for name in folder.subfolders() if holds_photos(folder.child(name))]
