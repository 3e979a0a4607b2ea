"""`run_sample`: the orchestration of `facelake sample` (a SiW video tree and/or a photo registry).

The layer rule: `jobs/sample.py` parses arguments into a `SampleConfig` and calls
`run_sample`; this module alone decides what is written, in which order, and logs what
was written. Below it, `siw_tree` and `photo_registry` write files and never start a job.
Nothing here touches a lake, so there is no run to record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from etl.errors import require
from etl.synthetic.photo_registry import RegistryManifest, write_photo_registry
from etl.synthetic.siw_tree import SampleManifest, write_sample_tree

__all__ = ["SampleConfig", "SampleSummary", "run_sample"]

log = logging.getLogger(f"facelake.{__name__}")


@dataclass(frozen=True)
class SampleConfig:
    """What `facelake sample` writes.

    Args:
        out: write the SiW video tree here (None: no videos).
        photos: write a photo registry here (None: no registry).
        mislabeled: with `photos`, also file one person's photo under another user.
        subjects: subjects in the video tree (1..999).
        seconds: length of each video, at 30 frames per second.
        seed: the same seed writes the same bytes.

    Raises:
        UsageError: neither `out` nor `photos` is set. The other values are checked by the
            writer that uses them (`subjects` is not checked when only photos are written).
    """

    out: Path | None = None
    photos: Path | None = None
    mislabeled: bool = False
    subjects: int = 4
    seconds: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.out is not None or self.photos is not None, "pass out (videos) and/or photos (a photo registry)")


@dataclass(frozen=True)
class SampleSummary:
    """What `run_sample` wrote: the tree's and the registry's manifests (None where not asked for)."""

    tree: SampleManifest | None
    registry: RegistryManifest | None


def run_sample(config: SampleConfig) -> SampleSummary:
    """Write the video tree, then the photo registry, as `config` asks; log a line for each.

    Returns:
        The manifests of what was written.

    Raises:
        UsageError: a bad argument or a destination holding other files; a tree written
            before a refused registry stays written.
    """
    tree = registry = None
    if config.out is not None:
        tree = write_sample_tree(config.out, subjects=config.subjects, seconds=config.seconds, seed=config.seed)
        log.info("wrote %d videos to %s (manifest: sample_manifest.json)", len(tree.videos), config.out)
    if config.photos is not None:
        registry = write_photo_registry(config.photos, seed=config.seed, mislabeled=config.mislabeled)
        log.info(
            "wrote %d photos of %d users to %s (manifest: registry_manifest.json)",
            len(registry.photos),
            len(registry.users),
            config.photos,
        )
    return SampleSummary(tree=tree, registry=registry)
