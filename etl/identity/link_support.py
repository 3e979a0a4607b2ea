"""How many distinct faces on each side carry a link between two identities.

Under max linkage one face filed under the wrong user links two users as surely as a
person registered twice: the first shows as every above-threshold face pair sharing
one face of an identity that has others, the second as many faces on both sides. The
count tells them apart: a link carried by a single face is reported as a label problem
(that face is checked against the other identity), not treated as one person.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from etl.identity.search import FaceVectors, IdentityPair


@dataclass(frozen=True)
class LinkSupport:
    first: str
    second: str
    faces_first: int  # faces of `first` in some face pair above the threshold
    faces_second: int
    size_first: int  # faces the identity has
    size_second: int
    single_face_keys: tuple[str, ...]  # the lone face(s) carrying a single-face link

    def carried_by(self, min_faces: int) -> bool:
        """True when both sides have at least min(min_faces, their size) faces in the link."""
        return self.faces_first >= min(min_faces, self.size_first) and self.faces_second >= min(
            min_faces, self.size_second
        )

    @property
    def single_face(self) -> bool:
        return not self.carried_by(2)


def link_supports(faces: FaceVectors, pairs: list[IdentityPair], threshold: float) -> list[LinkSupport]:
    rows: dict[str, list[int]] = {}
    for index, identity in enumerate(faces.identities):
        rows.setdefault(identity, []).append(index)
    out = []
    for pair in pairs:
        a, b = rows[pair.first], rows[pair.second]
        sims = faces.vectors[a].astype(np.float64) @ faces.vectors[b].astype(np.float64).T
        above = sims > threshold
        in_a, in_b = np.flatnonzero(above.any(axis=1)), np.flatnonzero(above.any(axis=0))
        lone = []
        if len(in_a) == 1 and len(a) > 1:
            lone.append(faces.keys[a[in_a[0]]])
        if len(in_b) == 1 and len(b) > 1:
            lone.append(faces.keys[b[in_b[0]]])
        out.append(LinkSupport(pair.first, pair.second, len(in_a), len(in_b), len(a), len(b), tuple(lone)))
    return out
