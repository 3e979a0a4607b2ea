"""Default similarity thresholds per embedding model and linkage (cosine of L2-normalised vectors).

- dlib_resnet_v1 (128-d, face_recognition_models): dlib calls two faces the same person
  below Euclidean distance 0.6 of its raw descriptors (99.38 % on LFW). Raw descriptors
  have norm ~1.45, so 0.6 is cosine ~0.914; we use 0.93 (raw ~0.55) because max linkage
  takes the highest of many face pairs, which lifts different-person maxima (two
  different people in insightface's t1.jpg reach 0.91).
- ArcFace-style 512-d models (insightface:*, keras:*): max linkage 0.7, the notes' rule
  for their 512-d model; centroid linkage 0.3, the centroid cosine insightface's own
  dataset merging drops identities at (same-person centroids are ~0.8-0.9 there).
"""

from __future__ import annotations

from etl.errors import require
from schemas.vocabulary import Linkage

DEFAULTS: dict[str, dict[str, float]] = {
    "dlib": {Linkage.MAX: 0.93, Linkage.CENTROID: 0.93},
    "arcface": {Linkage.MAX: 0.7, Linkage.CENTROID: 0.3},
}


def model_family(model: str) -> str:
    """`dlib` for dlib's descriptor, else `arcface` (every 512-d ArcFace-style model)."""
    return "dlib" if model.startswith("dlib") else "arcface"


def default_threshold(model: str, linkage: str) -> float:
    """The similarity threshold `model` links two identities at under `linkage`.

    Raises:
        UsageError: `linkage` is not a `Linkage`.
    """
    family = DEFAULTS[model_family(model)]
    require(linkage in family, f"linkage {linkage!r} is not one of {', '.join(family)}")
    return family[linkage]
