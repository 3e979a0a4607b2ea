"""The label check's rule: each face against its own identity's centroid *without itself*, versus the
nearest other identity's centroid.

The notes' rule (a face is suspect when its most similar face of another identity beats the
least similar face of its own) lets one misfiled photo drag two identities into suspicion:
the photo sets the minimum of every genuine face it is filed with, and the faces of its true
person find it as their nearest "other" face. A centroid is moved by one photo in n, so
here neither side is dragged: a genuine face still sits next to its own identity's
leave-one-out centroid, and the misfiled photo, whose own centroid is now the others', sits
nearer its true person's.

Measured on the shipped real faces (8 people, 8 augmentations each, dlib vectors; one photo
of person A filed under B, for all 56 ordered pairs, with 3 and with 6 photos a user): the
score (other - own) of the misfiled photo was at least 0.083, of every genuine photo at
most -0.034; the notes' rule flagged a genuine photo of B in 55 to 56 of the 56 cases and
had a precision of 0.09 to 0.16 (docs/identity.md, tests/test_label_check_real_faces.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# a face is suspect when its nearest other centroid is this much more similar than its own
LABEL_MARGIN = 0.02
# rows and centroids compared per GEMM (float32 2048 x 4096 = 32 MiB)
ROW_TILE, CENTROID_TILE = 2048, 4096


@dataclass(frozen=True)
class CentroidEvidence:
    """Per face (rows in the order given): float64 cosines, NaN where undefined."""

    own: np.ndarray  # to its identity's centroid without itself (NaN: the identity's only face)
    other: np.ndarray  # to the most similar centroid of another identity (NaN: one identity only)
    other_code: np.ndarray  # that identity's code, -1 where none

    @property
    def score(self) -> np.ndarray:
        """other - own: above the margin, the face looks more like another identity than its own."""
        return self.other - self.own

    def suspect(self, margin: float) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.nan_to_num(self.score, nan=-np.inf) > margin


def centroid_evidence(
    x: np.ndarray, codes: np.ndarray, starts: np.ndarray, candidates: np.ndarray | None = None
) -> CentroidEvidence:
    """The evidence for faces `x` (n, d; unit rows) grouped by identity: rows starts[c]:starts[c + 1]
    belong to identity c, `codes` (n,) says the same per row.

    `candidates` None: each face's nearest other centroid is searched among all (exact; time: one
    n x m x d product, m the number of identities, in ROW_TILE x CENTROID_TILE float32 tiles).
    Else (n,) identity codes, -1 for none: the only other centroid each face is compared with (an
    approximate search's answer, e.g. the identity of its nearest other face); `other` is then at
    most the exact one, so a suspect can be missed, never invented. Memory: the (m, d) centroid
    sums in float64 plus one tile.
    """
    n, m = len(codes), len(starts) - 1
    own, other = np.full(n, np.nan), np.full(n, np.nan)
    other_code = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return CentroidEvidence(own, other, other_code)
    sums = np.add.reduceat(x, starts[:-1], axis=0, dtype=np.float64)  # (m, d), exact enough for any n
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    centroids = np.divide(sums, norms, out=np.zeros_like(sums), where=norms > 0)
    sizes = np.diff(starts)
    for r0 in range(0, n, ROW_TILE):
        rows = slice(r0, min(r0 + ROW_TILE, n))
        x64, c = x[rows].astype(np.float64), codes[rows]
        rest = sums[c] - x64  # the own identity without this face
        rest_norm = np.linalg.norm(rest, axis=1)
        ok = (sizes[c] >= 2) & (rest_norm > 1e-12)
        own[rows][ok] = np.einsum("ij,ij->i", x64[ok], rest[ok]) / rest_norm[ok]
        if m >= 2:
            found = _nearest_other_centroid(x[rows], c, centroids) if candidates is None else candidates[rows]
            has = found >= 0
            other_code[rows] = found
            other[rows][has] = np.einsum("ij,ij->i", x64[has], centroids[found[has]])  # float64, the winner only
    return CentroidEvidence(own, other, other_code)


def _nearest_other_centroid(x: np.ndarray, codes: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Per row, the code of the most similar centroid but its own (float32 search; ties: the lowest code)."""
    best = np.full(len(x), -np.inf, dtype=np.float32)
    best_code = np.zeros(len(x), dtype=np.int64)
    for c0 in range(0, len(centroids), CENTROID_TILE):
        block = centroids[c0 : c0 + CENTROID_TILE].astype(np.float32)
        s = x @ block.T
        own = (codes >= c0) & (codes < c0 + len(block))
        s[np.flatnonzero(own), codes[own] - c0] = -np.inf
        arg = s.argmax(axis=1)
        val = s[np.arange(len(x)), arg]
        better = val > best
        best[better], best_code[better] = val[better], arg[better] + c0
    return best_code
