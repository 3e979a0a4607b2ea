"""The embedding model stage: loads a backend once, turns aligned PNGs into vectors."""

from __future__ import annotations

import numpy as np

from etl.embed.backends import EmbedderConfig, build_embedder
from etl.faces.encode import decode_image


class EmbedStage:
    """One per Ray actor: `__init__` loads the model, `__call__` embeds a batch."""

    def __init__(self, config: EmbedderConfig) -> None:
        self.embedder = build_embedder(config)

    def info(self) -> tuple[str, str, int]:
        return self.embedder.model, self.embedder.version, self.embedder.dim

    def __call__(self, aligned_pngs: list[bytes]) -> np.ndarray:
        return self.embedder([decode_image(png) for png in aligned_pngs])
