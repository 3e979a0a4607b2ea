"""Find identities that are one person, and faces whose label looks wrong, from face embeddings.

Pure numpy (and FAISS for the approximate indexes); no lake, no Ray. Inputs are
L2-normalised face embeddings with one identity (user / subject) per face.

* `identity_pairs(faces, config)`: pairs of different identities that look like one
  person. Candidates are every identity pair with some face pair above the threshold
  (and, for centroid linkage, every pair whose centroids are at least the threshold);
  the evidence for each candidate (max similarity, centroid similarity, face pairs above
  the threshold, example face pairs) is then computed exactly, in float64, from that
  pair's faces only.
* `cross_identity_pairs(a, b, config)`: the same between two sets, e.g. a test split
  against its train split (identity leakage).
* `merge_groups(pairs, face_counts)`: union-find over the linked pairs.
* `label_checks(faces, config)`: per face, its identity's centroid without it against the
  nearest other identity's centroid (the verdict, exact), and the notes' evidence: the
  lowest similarity to its own identity against the highest to any other identity (exact,
  or with the config's ivf / hnsw index: the highest among each face's candidates).

Search indexes (`SearchConfig.index`):

* `flat` (default): exact. Blocked float32 GEMM over tiles, memory bounded by the tile
  size; a self-join computes only the tiles on or above the diagonal.
* `ivf`: approximate, for millions of faces. Spherical k-means (FAISS) splits the faces
  into `nlist` inverted lists; each face is compared with the faces of its `nprobe`
  nearest lists -- the candidate set of FAISS IndexIVFFlat with that nprobe. The lists
  are joined with one GEMM per list (all faces probing a list at once) instead of
  IndexIVFFlat.range_search, which scans one query at a time and measured ~8x slower
  per comparison here.
* `hnsw`: approximate, FAISS IndexHNSWFlat (inner product); each face asks for its
  own identity's size plus `NEIGHBOR_MARGIN` neighbours.

Approximate indexes can miss candidate pairs (two faces of a duplicate that land in
lists the other does not probe, or a neighbour beyond k). A found pair's evidence is
still exact, so they never add a wrong pair or wrong numbers; they can only leave one
out. Use `flat` when completeness matters and the size allows it (50k faces: seconds;
250k faces: minutes).

Ties and order: faces are ordered by (identity, key) internally; every output list is
sorted, so results do not depend on the input order.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from etl.errors import UsageError, require
from etl.identity.centroid_check import LABEL_MARGIN, centroid_evidence
from schemas.vocabulary import IndexKind, Linkage, values

log = logging.getLogger(f"facelake.{__name__}")

LINKAGES = values(Linkage)
INDEXES = values(IndexKind)
UNIT_NORM_TOLERANCE = 1e-3
# The candidate search runs in float32 (error ~1e-6 for unit vectors); it keeps pairs a
# little below the threshold so none at the threshold is lost, and the float64 evidence
# decides.
SEARCH_MARGIN = 1e-4
# GEMM tile for the flat join: 1024 x 4096 float32 = 16 MiB, near peak sgemm speed here.
TILE_ROWS, TILE_COLS = 1024, 4096
# Label checks update rows and columns from one tile, so their tiles are square.
CHECK_TILE = 2048
# Label checks recompute their winners in float64 this many faces at a time (2 x 32 MiB at 512-d).
RECOMPUTE_ROWS = 8192
# Per-pair evidence matrices larger than this many entries are computed in row blocks.
EVIDENCE_BLOCK = 1 << 22
# hnsw: neighbours asked for beyond the face's own identity size.
NEIGHBOR_MARGIN = 32
IVF_NITER = 8  # k-means iterations: the lists only need to be coherent, not optimal
IVF_TRAIN_PER_LIST = 16  # training sample = nlist * this (at least 4096 faces)
IVF_QUERY_CHUNK = 1 << 18  # queries whose probes are inverted at once
PROGRESS_SECONDS = 30.0


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


# --- inputs and configuration --------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FaceVectors:
    """Faces to search: one unique key, one identity and one L2-normalised vector per face.

    `vectors` may be any float array; it is stored as C-contiguous float32 (no copy when
    it already is). eq is identity (comparing arrays field by field is ambiguous).
    """

    keys: list[str]
    identities: list[str]
    vectors: np.ndarray

    def __post_init__(self) -> None:
        keys, identities = list(self.keys), list(self.identities)
        require(all(isinstance(k, str) for k in keys), "FaceVectors.keys must all be str")
        require(all(isinstance(i, str) for i in identities), "FaceVectors.identities must all be str")
        vectors = np.asarray(self.vectors)
        require(
            vectors.ndim == 2,
            f"FaceVectors.vectors must be a 2-D (n_faces, dim) array, got shape {vectors.shape}",
        )
        require(
            np.issubdtype(vectors.dtype, np.floating),
            f"FaceVectors.vectors must be a float array, got dtype {vectors.dtype}",
        )
        n = vectors.shape[0]
        require(
            len(keys) == n and len(identities) == n,
            f"FaceVectors needs one key and one identity per vector row: {len(keys)} keys, "
            f"{len(identities)} identities, {n} rows",
        )
        require(vectors.shape[1] >= 1, "FaceVectors.vectors must have at least one column")
        if len(set(keys)) != n:
            seen: set[str] = set()
            duplicate = next(k for k in keys if k in seen or seen.add(k))
            raise UsageError(f"FaceVectors.keys must be unique; {duplicate!r} appears more than once")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if n:
            # row norms without an (n, d) temporary; squares of float32 cannot overflow float64, so
            # a row's norm is non-finite exactly when the row holds a NaN or an inf
            norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64))
            bad = np.flatnonzero(~np.isfinite(norms))
            if len(bad):
                raise UsageError(
                    f"FaceVectors.vectors contains NaN or infinite values (row {int(bad[0])}, "
                    f"key {keys[int(bad[0])]!r})"
                )
            worst = int(np.argmax(np.abs(norms - 1.0)))
            require(
                abs(float(norms[worst]) - 1.0) <= UNIT_NORM_TOLERANCE,
                f"FaceVectors.vectors rows must be L2-normalised (|norm - 1| <= {UNIT_NORM_TOLERANCE}); "
                f"row {worst} (key {keys[worst]!r}) has norm {float(norms[worst]):.6f}. "
                "Normalise first: v / np.linalg.norm(v, axis=1, keepdims=True)",
            )
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "identities", identities)
        object.__setattr__(self, "vectors", vectors)

    def __len__(self) -> int:
        return len(self.keys)

    def face_counts(self) -> dict[str, int]:
        """Faces per identity, sorted by identity (the input `merge_groups` wants)."""
        counts: dict[str, int] = {}
        for identity in self.identities:
            counts[identity] = counts.get(identity, 0) + 1
        return dict(sorted(counts.items()))


@dataclass(frozen=True)
class SearchConfig:
    """How to decide that two identities are one person, and how to search for candidates.

    threshold: cosine similarity in (-1, 1]. linkage `max`: linked when some face pair is
    above the threshold (at least `min_pairs` of them); `centroid` (InsightFace's rule):
    linked when the normalised identity centroids have cosine >= threshold (min_pairs is
    not used). index: `flat` exact; `ivf` / `hnsw` approximate (can miss pairs; see the
    module doc). nprobe, nlist: ivf lists probed per face / number of lists (None: 2 *
    sqrt(n)). hnsw_m, ef_search: HNSW graph degree / search breadth. examples: face-key
    pairs kept per identity pair. threads: FAISS threads during the call (None: FAISS's
    default, all cores); numpy's BLAS keeps its own setting.
    """

    threshold: float
    linkage: Linkage = Linkage.MAX
    min_pairs: int = 1
    index: IndexKind = IndexKind.FLAT
    nprobe: int = 16
    examples: int = 3
    nlist: int | None = None
    hnsw_m: int = 32
    ef_search: int = 128
    threads: int | None = None

    def __post_init__(self) -> None:
        require(
            isinstance(self.threshold, (int, float, np.floating)) and not isinstance(self.threshold, bool),
            f"threshold must be a number in (-1, 1], got {self.threshold!r}",
        )
        object.__setattr__(self, "threshold", float(self.threshold))
        require(
            math.isfinite(self.threshold) and -1.0 < self.threshold <= 1.0,
            f"threshold must be a cosine similarity in (-1, 1], got {self.threshold}",
        )
        require(self.linkage in LINKAGES, f"linkage {self.linkage!r} is not one of: {', '.join(map(repr, LINKAGES))}")
        require(self.index in INDEXES, f"index {self.index!r} is not one of: {', '.join(map(repr, INDEXES))}")
        require(
            _is_int(self.min_pairs) and self.min_pairs >= 1, f"min_pairs must be an int >= 1, got {self.min_pairs!r}"
        )
        require(_is_int(self.nprobe) and self.nprobe >= 1, f"nprobe must be an int >= 1, got {self.nprobe!r}")
        require(_is_int(self.examples) and self.examples >= 0, f"examples must be an int >= 0, got {self.examples!r}")
        require(
            self.nlist is None or (_is_int(self.nlist) and self.nlist >= 1),
            f"nlist must be None (automatic) or an int >= 1, got {self.nlist!r}",
        )
        require(_is_int(self.hnsw_m) and self.hnsw_m >= 2, f"hnsw_m must be an int >= 2, got {self.hnsw_m!r}")
        require(
            _is_int(self.ef_search) and self.ef_search >= 1, f"ef_search must be an int >= 1, got {self.ef_search!r}"
        )
        require(
            self.threads is None or (_is_int(self.threads) and self.threads >= 1),
            f"threads must be None (all cores) or an int >= 1, got {self.threads!r}",
        )


# --- outputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdentityPair:
    """Evidence that two identities are one person; every number is exact (float64)."""

    first: str
    second: str
    max_similarity: float
    centroid_similarity: float
    pairs_above: int
    face_pairs: int
    example_pairs: list[tuple[str, str, float]]
    linked: bool


@dataclass(frozen=True)
class LabelCheck:
    """One face's label check.

    The verdict (`suspect`): its identity's centroid without it (`own_centroid_similarity`)
    against the nearest other identity's centroid (`other_centroid_similarity`, that identity
    `nearest_other_centroid`); `suspect_score` = other - own, suspect when above the margin
    (`etl.identity.centroid_check`). The face-level evidence of the notes' rule stays beside
    it: lowest similarity to a face of its own identity (`min_positive`), highest to a face of
    another (`max_negative`, that face `nearest_other_key`), and that rule's flag (`face_suspect`).
    """

    key: str
    identity: str
    min_positive: float | None
    max_negative: float | None
    nearest_other_identity: str | None
    nearest_other_key: str | None
    face_suspect: bool
    own_centroid_similarity: float | None
    other_centroid_similarity: float | None
    nearest_other_centroid: str | None
    suspect_score: float | None
    suspect: bool


# --- internals: faces grouped by identity --------------------------------------------------


@dataclass
class _Grouped:
    """Faces sorted by (identity, key): identity c owns rows starts[c]:starts[c + 1]."""

    names: list[str]
    keys: list[str]
    codes: np.ndarray  # (n,) int64 identity code per sorted row
    starts: np.ndarray  # (m + 1,) int64
    x: np.ndarray  # (n, d) float32, sorted rows
    _centroids: dict[int, np.ndarray]

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.starts)

    def rows(self, code: int) -> np.ndarray:
        return self.x[self.starts[code] : self.starts[code + 1]]

    def centroid(self, code: int) -> np.ndarray:
        """Normalised mean of the identity's faces, float64 (zeros if the mean is zero)."""
        found = self._centroids.get(code)
        if found is None:
            found = _normalise64(self.rows(code).sum(axis=0, dtype=np.float64))
            self._centroids[code] = found
        return found

    def all_centroids(self) -> np.ndarray:
        sums = np.add.reduceat(self.x, self.starts[:-1], axis=0, dtype=np.float64)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        # a mean of exactly zero has no direction; it is kept as zeros (cosine 0 with all)
        return np.divide(sums, norms, out=np.zeros_like(sums), where=norms > 0)


def _normalise64(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else np.zeros_like(v)


def _group(faces: FaceVectors) -> _Grouped:
    n = len(faces)
    ids = np.array(faces.identities, dtype=str) if n else np.array([], dtype=str)
    keys = np.array(faces.keys, dtype=str) if n else np.array([], dtype=str)
    order = np.lexsort((keys, ids)) if n else np.zeros(0, dtype=np.int64)
    names_arr, codes = np.unique(ids[order], return_inverse=True)
    codes = codes.astype(np.int64).ravel()
    starts = np.searchsorted(codes, np.arange(len(names_arr) + 1)).astype(np.int64)
    # no copy when the input is already in (identity, key) order, as lake reads usually are
    x = faces.vectors if np.array_equal(order, np.arange(n)) else faces.vectors[order]
    return _Grouped(
        names=[str(s) for s in names_arr],
        keys=[faces.keys[i] for i in order.tolist()],
        codes=codes,
        starts=starts,
        x=x,
        _centroids={},
    )


@contextlib.contextmanager
def _faiss_threads(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    faiss = _import_faiss()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _import_faiss():
    try:
        import faiss
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "identity search with index='ivf' or 'hnsw' needs FAISS: `pip install faiss-cpu` "
            "(index='flat' needs only numpy)"
        ) from error
    return faiss


class _Progress:
    """Logs `done of total` with rate and time left, at most every PROGRESS_SECONDS."""

    def __init__(self, what: str, total: int) -> None:
        self.what, self.total, self.done = what, total, 0
        self.start = self.last = time.monotonic()

    def step(self, amount: int = 1) -> None:
        self.done += amount
        now = time.monotonic()
        if now - self.last >= PROGRESS_SECONDS and self.done < self.total:
            self.last = now
            rate = self.done / (now - self.start)
            log.info(
                "%s: %d of %d (%.1f/s, ~%.0f s left)",
                self.what,
                self.done,
                self.total,
                rate,
                (self.total - self.done) / rate,
            )


# --- candidate search: face (or centroid) pairs above a radius -----------------------------


class _Hits:
    """Collects identity-code pairs from face hits (r query row, c database row).

    Self-joins keep (min code, max code) of different codes; cross joins keep (query code,
    database code) unless `same` says the two codes carry one name.
    """

    def __init__(
        self, qcodes: np.ndarray, dcodes: np.ndarray, width: int, *, self_join: bool, same: np.ndarray | None
    ) -> None:
        self.qcodes, self.dcodes, self.width = qcodes, dcodes, width
        self.self_join, self.same = self_join, same
        self.parts: list[np.ndarray] = []

    def add(self, r: np.ndarray, c: np.ndarray) -> None:
        if len(r) == 0:
            return
        cq, cd = self.qcodes[r], self.dcodes[c]
        if self.self_join:
            keep = cq != cd
            lo, hi = np.minimum(cq[keep], cd[keep]), np.maximum(cq[keep], cd[keep])
        else:
            keep = np.ones(len(cq), dtype=bool) if self.same is None else self.same[cq] != cd
            lo, hi = cq[keep], cd[keep]
        if len(lo):
            self.parts.append(np.unique(lo * self.width + hi))

    def pairs(self) -> np.ndarray:
        """(k, 2) int64 code pairs, unique and sorted."""
        if not self.parts:
            return np.zeros((0, 2), dtype=np.int64)
        packed = np.unique(np.concatenate(self.parts))
        return np.stack([packed // self.width, packed % self.width], axis=1)


def _above(s: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray] | None:
    if s.size == 0 or s.max() <= radius:
        return None
    flat = np.flatnonzero(s > radius)  # 1-D nonzero is ~10x faster than 2-D here
    return np.divmod(flat, s.shape[1])


def _flat_join(q: np.ndarray, d: np.ndarray, radius: float, hits: _Hits, *, self_join: bool) -> None:
    """Exact: every (query, database) tile; a self-join only tiles on or above the diagonal."""
    nq, nd = len(q), len(d)
    row_starts = range(0, nq, TILE_ROWS)
    total = sum(len(range(i0 if self_join else 0, nd, TILE_COLS)) for i0 in row_starts)
    progress = _Progress("flat search tiles", total)
    buffer = np.empty((TILE_ROWS, TILE_COLS), dtype=np.float32)
    for i0 in row_starts:
        i1 = min(i0 + TILE_ROWS, nq)
        # in a self-join the pairs (i, j) with j < i0 were seen from row block j's side
        for j0 in range(i0 if self_join else 0, nd, TILE_COLS):
            j1 = min(j0 + TILE_COLS, nd)
            if (i1 - i0, j1 - j0) == buffer.shape:
                s = np.matmul(q[i0:i1], d[j0:j1].T, out=buffer)
            else:
                s = q[i0:i1] @ d[j0:j1].T
            found = _above(s, radius)
            if found is not None:
                hits.add(found[0] + i0, found[1] + j0)
            progress.step()


def _auto_nlist(n: int) -> int:
    # ~2 sqrt(n) lists balances k-means training (~nlist^2) against the join (~n^2 / nlist)
    return max(1, min(int(round(2.0 * math.sqrt(n))), n // 8))


def _ivf_lists(d: np.ndarray, config: SearchConfig) -> np.ndarray:
    """Spherical k-means centroids (nlist, dim) float32 for the database rows `d`."""
    faiss = _import_faiss()
    n, dim = d.shape
    nlist = min(config.nlist or _auto_nlist(n), n)
    if nlist == 1:
        return _normalise_rows(d.mean(axis=0, keepdims=True))
    sample = min(n, max(nlist * IVF_TRAIN_PER_LIST, 4096))
    rng = np.random.default_rng(0)  # fixed: same lists for the same input
    train = d[np.sort(rng.choice(n, sample, replace=False))] if sample < n else d
    kmeans = faiss.Kmeans(
        dim,
        nlist,
        niter=IVF_NITER,
        spherical=True,
        seed=1234,
        verbose=False,
        min_points_per_centroid=1,
        max_points_per_centroid=1 << 30,
    )
    kmeans.train(np.ascontiguousarray(train, dtype=np.float32))
    return _normalise_rows(kmeans.centroids)


def _normalise_rows(v: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norms, out=np.zeros_like(v), where=norms > 0).astype(np.float32)


def _top_lists(x: np.ndarray, centroids: np.ndarray, nprobe: int) -> np.ndarray:
    """(n, nprobe) int32 nearest lists per row, nearest first (4 * nprobe bytes a face)."""
    out = np.empty((len(x), nprobe), dtype=np.int32)
    for i0 in range(0, len(x), TILE_COLS):
        s = x[i0 : i0 + TILE_COLS] @ centroids.T
        if nprobe < s.shape[1]:
            part = np.argpartition(-s, nprobe - 1, axis=1)[:, :nprobe]
        else:
            part = np.broadcast_to(np.arange(s.shape[1]), s.shape).copy()
        order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1, kind="stable")
        out[i0 : i0 + TILE_COLS] = np.take_along_axis(part, order, axis=1)
    return out


def _ivf_tiles(
    q: np.ndarray, d: np.ndarray, config: SearchConfig, *, self_join: bool, what: str = "ivf lists"
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The IVF candidate set as GEMM tiles: yields (query rows, database rows, float32 sims).

    Database rows live in their nearest list; each query meets the rows of its nprobe
    nearest lists (FAISS IndexIVFFlat's candidate set with the same lists and nprobe), once
    each. Each list is joined with one GEMM against every query probing it; queries go in
    chunks of IVF_QUERY_CHUNK so the inverted probe arrays stay bounded, and a tile holds at
    most EVIDENCE_BLOCK similarities (or one query row). Database rows of a tile are in
    increasing order. In a self-join (q is d) a query's own list holds the query itself.
    """
    centroids = _ivf_lists(d, config)
    nlist = len(centroids)
    nprobe = min(config.nprobe, nlist)
    q_lists = _top_lists(q, centroids, nprobe)
    home = q_lists[:, 0] if self_join else _top_lists(d, centroids, 1)[:, 0]
    members_order = np.argsort(home, kind="stable")
    members_bounds = np.searchsorted(home[members_order], np.arange(nlist + 1))
    sizes = np.diff(members_bounds)
    log.debug("ivf: %d lists, nprobe %d, list sizes %d..%d", nlist, nprobe, int(sizes.min()), int(sizes.max()))
    chunks = range(0, len(q), IVF_QUERY_CHUNK)
    progress = _Progress(what, len(chunks) * nlist)
    for c0 in chunks:
        lists = q_lists[c0 : c0 + IVF_QUERY_CHUNK].ravel()
        order = np.argsort(lists, kind="stable")
        probe_rows = (order // nprobe + c0).astype(np.int64)  # row of each (query, list) probe, by list
        probe_bounds = np.searchsorted(lists[order], np.arange(nlist + 1))
        for lst in range(nlist):
            progress.step()
            members = members_order[members_bounds[lst] : members_bounds[lst + 1]]
            queries = probe_rows[probe_bounds[lst] : probe_bounds[lst + 1]]
            if len(members) == 0 or len(queries) == 0:
                continue
            member_rows = d[members]
            step = max(1, EVIDENCE_BLOCK // len(members))  # bounds the (queries x members) tile
            for k0 in range(0, len(queries), step):
                rows = queries[k0 : k0 + step]
                yield rows, members, q[rows] @ member_rows.T


def _ivf_join(
    q: np.ndarray, d: np.ndarray, radius: float, hits: _Hits, config: SearchConfig, *, self_join: bool
) -> None:
    """Approximate: every face pair above the radius among the IVF candidates (`_ivf_tiles`)."""
    for rows, members, s in _ivf_tiles(q, d, config, self_join=self_join):
        found = _above(s, radius)
        if found is not None:
            hits.add(rows[found[0]], members[found[1]])


def _hnsw_join(
    q: np.ndarray, d: np.ndarray, radius: float, hits: _Hits, config: SearchConfig, own_sizes: np.ndarray
) -> None:
    """Approximate: FAISS HNSW k-nearest neighbours, k = own identity size + NEIGHBOR_MARGIN.

    own_sizes[i]: database faces that query i's identity owns (they come back first and
    do not count); queries are batched by k rounded up to a power of two.
    """
    faiss = _import_faiss()
    index = faiss.IndexHNSWFlat(d.shape[1], config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = max(40, 2 * config.hnsw_m)
    index.add(np.ascontiguousarray(d, dtype=np.float32))
    wanted = np.minimum(own_sizes + NEIGHBOR_MARGIN, len(d))
    bucket = np.minimum(2 ** np.ceil(np.log2(np.maximum(wanted, 1))).astype(np.int64), len(d))
    for k in np.unique(bucket).tolist():
        rows = np.flatnonzero(bucket == k)
        index.hnsw.efSearch = max(config.ef_search, k)
        for k0 in range(0, len(rows), 16384):
            batch = rows[k0 : k0 + 16384]
            sims, ids = index.search(np.ascontiguousarray(q[batch]), k)
            r, c = np.nonzero((ids >= 0) & (sims > radius))
            hits.add(batch[r], ids[r, c])


def _join(
    q: np.ndarray,
    qcodes: np.ndarray,
    d: np.ndarray,
    dcodes: np.ndarray,
    width: int,
    radius: float,
    config: SearchConfig,
    *,
    self_join: bool,
    same: np.ndarray | None,
    own_sizes: np.ndarray,
) -> np.ndarray:
    hits = _Hits(qcodes, dcodes, width, self_join=self_join, same=same)
    if len(q) and len(d):
        if config.index == IndexKind.FLAT:
            _flat_join(q, d, radius, hits, self_join=self_join)
        elif config.index == IndexKind.IVF:
            _ivf_join(q, d, radius, hits, config, self_join=self_join)
        else:
            _hnsw_join(q, d, radius, hits, config, own_sizes)
    return hits.pairs()


# --- exact evidence per candidate identity pair -------------------------------------------


def _evidence(
    a: np.ndarray, b: np.ndarray, threshold: float, examples: int
) -> tuple[float, int, list[tuple[int, int, float]]]:
    """Max similarity, pairs above threshold, and the top `examples` (row, col, sim), float64.

    Ties among examples go to the lower (row, col), i.e. key order within each identity.
    """
    b64 = b.astype(np.float64)
    best, above = -math.inf, 0
    picks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    step = max(1, EVIDENCE_BLOCK // max(1, len(b)))
    for i0 in range(0, len(a), step):
        s = a[i0 : i0 + step].astype(np.float64) @ b64.T
        best = max(best, float(s.max()))
        above += int(np.count_nonzero(s > threshold))
        if examples:
            flat = s.ravel()
            if flat.size > examples:
                kth = np.partition(flat, flat.size - examples)[flat.size - examples]
                chosen = np.flatnonzero(flat >= kth)  # keeps every tie at the cut
            else:
                chosen = np.arange(flat.size)
            r, c = np.divmod(chosen, s.shape[1])
            picks.append((r + i0, c, flat[chosen]))
    top: list[tuple[int, int, float]] = []
    if picks:
        r = np.concatenate([p[0] for p in picks])
        c = np.concatenate([p[1] for p in picks])
        v = np.concatenate([p[2] for p in picks])
        order = np.lexsort((c, r, -v))[:examples]
        top = [(int(r[k]), int(c[k]), float(v[k])) for k in order]
    return best, above, top


def _build_pairs(
    ga: _Grouped, gb: _Grouped, candidates: np.ndarray, config: SearchConfig, centroid_candidates: np.ndarray
) -> list[IdentityPair]:
    """Exact evidence for each candidate; keeps those meeting the candidate definition."""
    threshold = config.threshold
    face_set = {(int(i), int(j)) for i, j in candidates}
    centroid_set = {(int(i), int(j)) for i, j in centroid_candidates}
    out = []
    for ca, cb in sorted(face_set | centroid_set):
        rows_a, rows_b = ga.rows(ca), gb.rows(cb)
        best, above, top = _evidence(rows_a, rows_b, threshold, config.examples)
        centroid_sim = float(ga.centroid(ca) @ gb.centroid(cb))
        by_face = best > threshold
        by_centroid = config.linkage == Linkage.CENTROID and centroid_sim >= threshold
        if not (by_face or by_centroid):
            continue  # found only thanks to the search margin
        if config.linkage == Linkage.MAX:
            linked = by_face and above >= config.min_pairs
        else:
            linked = by_centroid
        a0, b0 = int(ga.starts[ca]), int(gb.starts[cb])
        out.append(
            IdentityPair(
                first=ga.names[ca],
                second=gb.names[cb],
                max_similarity=best,
                centroid_similarity=centroid_sim,
                pairs_above=above,
                face_pairs=len(rows_a) * len(rows_b),
                example_pairs=[(ga.keys[a0 + r], gb.keys[b0 + c], v) for r, c, v in top],
                linked=linked,
            )
        )
    out.sort(key=lambda p: (not p.linked, -p.max_similarity, p.first, p.second))
    return out


def _centroid_matrix(g: _Grouped) -> np.ndarray:
    return g.all_centroids().astype(np.float32)


def _log_search(what: str, sizes: str, config: SearchConfig, pairs: list[IdentityPair], started: float) -> None:
    linked = sum(p.linked for p in pairs)
    elapsed = time.perf_counter() - started
    log.info(
        "%s: %s, index %s, linkage %s: %d pairs, %d linked (%.2f s)",
        what,
        sizes,
        config.index,
        config.linkage,
        len(pairs),
        linked,
        elapsed,
    )


def identity_pairs(faces: FaceVectors, config: SearchConfig) -> list[IdentityPair]:
    """Pairs of different identities that look like one person, with exact evidence.

    Candidates: every identity pair with a face pair above the threshold, plus (centroid
    linkage) every pair with centroid similarity >= threshold. Centroid linkage therefore
    runs two searches, over the faces and over the n_identities centroids, and lists the
    face-evidence pairs it does not link (linked=False) next to the centroid links.
    `first` < `second`. Sorted by (not linked, -max_similarity, first, second).
    """
    started = time.perf_counter()
    g = _group(faces)
    m = len(g.names)
    radius = config.threshold - SEARCH_MARGIN
    with _faiss_threads(config.threads):
        candidates = _join(
            g.x, g.codes, g.x, g.codes, m, radius, config, self_join=True, same=None, own_sizes=g.sizes[g.codes]
        )
        centroid_candidates = np.zeros((0, 2), dtype=np.int64)
        if config.linkage == Linkage.CENTROID and m > 1:
            c = _centroid_matrix(g)
            ids = np.arange(m, dtype=np.int64)
            # >= threshold: the margin also covers the equality case
            centroid_candidates = _join(
                c, ids, c, ids, m, radius, config, self_join=True, same=None, own_sizes=np.ones(m, dtype=np.int64)
            )
    pairs = _build_pairs(g, g, candidates, config, centroid_candidates)
    _log_search("identity_pairs", f"{len(faces)} faces, {m} identities", config, pairs, started)
    return pairs


def cross_identity_pairs(
    a: FaceVectors, b: FaceVectors, config: SearchConfig, *, same_identity_ok: bool = False
) -> list[IdentityPair]:
    """Identity pairs between two face sets (`first` from a, `second` from b), e.g. test vs train.

    Pairs whose two identities have the same name are skipped unless same_identity_ok
    (then they are reported like any other pair: one name in both sets is itself leakage).
    """
    if len(a) and len(b):
        require(
            a.vectors.shape[1] == b.vectors.shape[1],
            f"a and b must have the same dimension, got {a.vectors.shape[1]} and {b.vectors.shape[1]}",
        )
    started = time.perf_counter()
    ga, gb = _group(a), _group(b)
    ma, mb = len(ga.names), len(gb.names)
    same = None
    own_sizes = np.zeros(len(a), dtype=np.int64)
    if not same_identity_ok:
        b_code = {name: i for i, name in enumerate(gb.names)}
        same = np.array([b_code.get(name, -1) for name in ga.names], dtype=np.int64)
        b_sizes = np.append(gb.sizes, 0)  # index -1 -> no same-named identity in b
        own_sizes = b_sizes[same][ga.codes] if ma else own_sizes
    radius = config.threshold - SEARCH_MARGIN
    with _faiss_threads(config.threads):
        candidates = _join(
            ga.x, ga.codes, gb.x, gb.codes, mb, radius, config, self_join=False, same=same, own_sizes=own_sizes
        )
        centroid_candidates = np.zeros((0, 2), dtype=np.int64)
        if config.linkage == Linkage.CENTROID and ma and mb:
            own = np.zeros(ma, dtype=np.int64) if same is None else (same >= 0).astype(np.int64)
            centroid_candidates = _join(
                _centroid_matrix(ga),
                np.arange(ma, dtype=np.int64),
                _centroid_matrix(gb),
                np.arange(mb, dtype=np.int64),
                mb,
                radius,
                config,
                self_join=False,
                same=same,
                own_sizes=own,
            )
    pairs = _build_pairs(ga, gb, candidates, config, centroid_candidates)
    _log_search("cross_identity_pairs", f"{len(a)} x {len(b)} faces, {ma} x {mb} identities", config, pairs, started)
    return pairs


# --- merging -------------------------------------------------------------------------------


def merge_groups(pairs: Sequence[IdentityPair], face_counts: dict[str, int]) -> dict[str, str]:
    """{identity: canonical} for every identity in a linked group of two or more.

    Union-find over the linked pairs, so links are transitive (A~B and B~C: one group).
    canonical = the member with the most faces; ties go to the smallest name.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for pair in pairs:
        if not pair.linked:
            continue
        for name in (pair.first, pair.second):
            parent.setdefault(name, name)
        ra, rb = find(pair.first), find(pair.second)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    missing = sorted(name for name in parent if name not in face_counts)
    require(
        not missing,
        f"face_counts has no count for {len(missing)} linked identities, e.g. {missing[:5]}; "
        "pass FaceVectors.face_counts() of the faces searched",
    )
    groups: dict[str, list[str]] = {}
    for name in parent:
        groups.setdefault(find(name), []).append(name)
    out: dict[str, str] = {}
    for members in groups.values():
        if len(members) < 2:
            continue  # a pair of one name with itself (cross join, same_identity_ok)
        canonical = min(members, key=lambda name: (-face_counts[name], name))
        out.update({name: canonical for name in members})
    return dict(sorted(out.items()))


# --- label checks --------------------------------------------------------------------------


def _mask_same_identity(s: np.ndarray, g: _Grouped, i0: int, j0: int) -> None:
    """Sets s[r, c] = -inf where rows i0 + r and j0 + c share an identity."""
    rc, cc = g.codes[i0 : i0 + s.shape[0]], g.codes[j0 : j0 + s.shape[1]]
    lo, hi = max(rc[0], cc[0]), min(rc[-1], cc[-1])
    if lo > hi:
        return
    if hi - lo > 16:  # many identities in common (diagonal tiles): one vectorised mask
        np.putmask(s, rc[:, None] == cc[None, :], -np.inf)
        return
    for code in range(int(lo), int(hi) + 1):
        a, b = int(g.starts[code]), int(g.starts[code + 1])
        s[max(a - i0, 0) : max(b - i0, 0), max(a - j0, 0) : max(b - j0, 0)] = -np.inf


def _locate_column_winners(g: _Grouped, best_idx: np.ndarray, best_from: np.ndarray) -> None:
    """Fills best_idx for faces whose best other-identity face was found as a column maximum:
    the first maximum within the recorded row block (at most n x CHECK_TILE more products)."""
    pending = np.flatnonzero(best_idx < 0)
    pending = pending[best_from[pending] >= 0]
    if not len(pending):
        return
    pending = pending[np.argsort(best_from[pending], kind="stable")]
    blocks, first = np.unique(best_from[pending], return_index=True)
    bounds = np.append(first, len(pending))
    for b0, lo, hi in zip(blocks.tolist(), bounds[:-1].tolist(), bounds[1:].tolist()):
        block_codes = g.codes[b0 : b0 + CHECK_TILE]
        for k0 in range(lo, hi, CHECK_TILE):
            rows = pending[k0 : min(k0 + CHECK_TILE, hi)]
            s = g.x[rows] @ g.x[b0 : b0 + CHECK_TILE].T
            np.putmask(s, g.codes[rows][:, None] == block_codes[None, :], -np.inf)
            best_idx[rows] = s.argmax(axis=1) + b0


def _min_positive(g: _Grouped) -> np.ndarray:
    """Per face, the lowest float64 similarity to another face of its identity (NaN: none)."""
    n = len(g.keys)
    min_pos = np.full(n, np.nan)
    for code in np.flatnonzero(g.sizes >= 2).tolist():
        a, b = int(g.starts[code]), int(g.starts[code + 1])
        rows64 = g.x[a:b].astype(np.float64)
        step = max(1, EVIDENCE_BLOCK // (b - a))
        for k0 in range(0, b - a, step):
            s = rows64[k0 : k0 + step] @ rows64.T
            s[np.arange(len(s)), np.arange(k0, k0 + len(s))] = np.inf  # not the face itself
            min_pos[a + k0 : a + k0 + len(s)] = s.min(axis=1)
    return min_pos


def _nearest_other_flat(g: _Grouped) -> np.ndarray:
    """Exact: per face, the row of its most similar face of another identity (float32 search;
    ties: the first row). One pass over the upper triangle of the n x n similarities."""
    n = len(g.keys)
    best = np.full(n, -np.inf, dtype=np.float32)
    best_idx = np.full(n, -1, dtype=np.int64)
    # a column's winner is only located later (argmax along axis 0 costs half a GEMM here):
    # best_from = start of the row block it came from, best_idx = -1 until then
    best_from = np.full(n, -1, dtype=np.int64)
    starts = range(0, n, CHECK_TILE)
    progress = _Progress("label check tiles", len(starts) * (len(starts) + 1) // 2)
    for i0 in starts:
        i1 = min(i0 + CHECK_TILE, n)
        # tiles (i, j) with j > i update both sides, so the lower triangle is never computed;
        # columns are met in increasing order for every row, and strict > keeps the first
        for j0 in range(i0, n, CHECK_TILE):
            j1 = min(j0 + CHECK_TILE, n)
            s = g.x[i0:i1] @ g.x[j0:j1].T
            _mask_same_identity(s, g, i0, j0)
            arg = s.argmax(axis=1)
            val = s[np.arange(len(s)), arg]
            better = val > best[i0:i1]
            best[i0:i1][better] = val[better]
            best_idx[i0:i1][better] = arg[better] + j0
            if j0 != i0:
                val = s.max(axis=0)
                better = val > best[j0:j1]
                best[j0:j1][better] = val[better]
                best_idx[j0:j1][better] = -1
                best_from[j0:j1][better] = i0
            progress.step()
    _locate_column_winners(g, best_idx, best_from)
    return best_idx


def _offer(best: np.ndarray, best_idx: np.ndarray, rows: np.ndarray, val: np.ndarray, cand: np.ndarray) -> None:
    """Keeps, per row (unique within one call), the highest val; ties go to the lower candidate row."""
    current = best[rows]
    better = (val > current) | ((val == current) & (cand < best_idx[rows]) & (val > -np.inf))
    rows = rows[better]
    best[rows] = val[better]
    best_idx[rows] = cand[better]


def _nearest_other_ivf(g: _Grouped, config: SearchConfig) -> tuple[np.ndarray, np.ndarray]:
    """Approximate: (float32 similarity, row) of the best other-identity face among the IVF
    candidates of each face; row -1 where they hold no face of another identity. Candidates
    are symmetric: the faces of the face's nprobe nearest lists, and the faces that probe
    the face's own list (every pair the join computes updates both of its faces, as the flat
    pass does)."""
    n = len(g.keys)
    best = np.full(n, -np.inf, dtype=np.float32)
    best_idx = np.full(n, -1, dtype=np.int64)
    for rows, members, s in _ivf_tiles(g.x, g.x, config, self_join=True, what="ivf label check lists"):
        # own-identity members: members are in row order, so one identity's are a contiguous run
        member_codes, row_codes = g.codes[members], g.codes[rows]
        lo = np.searchsorted(member_codes, row_codes, side="left")
        count = np.searchsorted(member_codes, row_codes, side="right") - lo
        if count.any():
            within = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
            s[np.repeat(np.arange(len(rows)), count), np.repeat(lo, count) + within] = -np.inf
        arg = s.argmax(axis=1)  # members are in row order: the first maximum is the lowest row
        _offer(best, best_idx, rows, s[np.arange(len(rows)), arg], members[arg])
        # the members' side: a column maximum is located (argmax along axis 0 is slow) only
        # where it can change the member's best, which after the first lists is rare
        top = s.max(axis=0)
        cols = np.flatnonzero((top >= best[members]) & (top > -np.inf))
        if len(cols):
            first = (s[:, cols] == top[cols]).argmax(axis=0)  # rows are in order: the lowest row
            _offer(best, best_idx, members[cols], top[cols], rows[first])
    return best, best_idx


def _nearest_other_hnsw(g: _Grouped, config: SearchConfig) -> tuple[np.ndarray, np.ndarray]:
    """Approximate: (float32 similarity, row) of the best other-identity face among each face's
    HNSW neighbours (k = own identity size + NEIGHBOR_MARGIN); row -1 where none of them is of
    another identity."""
    faiss = _import_faiss()
    n = len(g.keys)
    index = faiss.IndexHNSWFlat(g.x.shape[1], config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = max(40, 2 * config.hnsw_m)
    index.add(g.x)
    best = np.full(n, -np.inf, dtype=np.float32)
    best_idx = np.full(n, -1, dtype=np.int64)
    wanted = np.minimum(g.sizes[g.codes] + NEIGHBOR_MARGIN, n)
    bucket = np.minimum(2 ** np.ceil(np.log2(np.maximum(wanted, 1))).astype(np.int64), n)
    for k in np.unique(bucket).tolist():
        rows = np.flatnonzero(bucket == k)
        index.hnsw.efSearch = max(config.ef_search, k)
        step = max(1, EVIDENCE_BLOCK // k)  # bounds the (queries x k) results
        for k0 in range(0, len(rows), step):
            batch = rows[k0 : k0 + step]
            sims, ids = index.search(g.x[batch], k)
            other = (ids >= 0) & (g.codes[np.maximum(ids, 0)] != g.codes[batch][:, None])
            sims = np.where(other, sims, -np.inf)
            top = sims.max(axis=1)
            cand = np.where(other & (sims == top[:, None]), ids, n).min(axis=1)  # ties: the lowest row
            found = cand < n
            _offer(best, best_idx, batch[found], top[found], cand[found])
    return best, best_idx


def _share_within_identities(g: _Grouped, best: np.ndarray, best_idx: np.ndarray) -> None:
    """Offers every face the nearest other faces found for its identity's faces: a misfiled
    photo that one face of its true person found is then a candidate for all of them.
    O(sum of identity sizes^2) products."""
    for code in np.flatnonzero(g.sizes >= 2).tolist():
        a, b = int(g.starts[code]), int(g.starts[code + 1])
        found = best_idx[a:b]
        cands = np.unique(found[found >= 0])  # sorted: argmax ties go to the lowest row
        if len(cands) == 0 or (len(cands) == 1 and np.all(found == cands[0])):
            continue  # nothing new to offer
        s = g.x[a:b] @ g.x[cands].T
        arg = s.argmax(axis=1)
        _offer(best, best_idx, np.arange(a, b), s[np.arange(b - a), arg], cands[arg])


def _nearest_other_exact_rows(g: _Grouped, rows: np.ndarray) -> np.ndarray:
    """Exact, for the given rows only: their best other-identity face over all faces (ties: the
    first row); O(len(rows) x n) products in CHECK_TILE^2 tiles."""
    n = len(g.keys)
    out = np.full(len(rows), -1, dtype=np.int64)
    for k0 in range(0, len(rows), CHECK_TILE):
        r = rows[k0 : k0 + CHECK_TILE]
        rc, xr = g.codes[r], g.x[r]
        best = np.full(len(r), -np.inf, dtype=np.float32)
        idx = out[k0 : k0 + len(r)]
        for j0 in range(0, n, CHECK_TILE):
            s = xr @ g.x[j0 : j0 + CHECK_TILE].T
            np.putmask(s, rc[:, None] == g.codes[j0 : j0 + CHECK_TILE][None, :], -np.inf)
            arg = s.argmax(axis=1)
            val = s[np.arange(len(r)), arg]
            better = val > best
            best[better] = val[better]
            idx[better] = arg[better] + j0
    return out


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def label_checks(
    faces: FaceVectors, config: SearchConfig | None = None, *, margin: float = LABEL_MARGIN
) -> list[LabelCheck]:
    """The label check of every face; sorted by (identity, key).

    The verdict: `suspect` when the face's nearest other identity's centroid is more similar
    than its own identity's centroid without it by more than `margin` (exact, float64;
    `etl.identity.centroid_check`). A one-face identity is never suspect (no centroid without it).

    The notes' face-level evidence: min_positive: lowest similarity to another face of its identity (None for a one-face
    identity). max_negative: highest similarity to a face of another identity (None when
    there is one identity), with that face's identity and key (ties, to float32 rounding:
    the first in (identity, key) order). face_suspect: max_negative > min_positive (the notes'
    rule). The search runs in float32; the two reported similarities are recomputed in float64.

    config: only `index`, its parameters (nprobe, nlist, hnsw_m, ef_search) and `threads`
    are used (not the threshold). None or index `flat`: exact. Memory is bounded by
    CHECK_TILE^2 floats plus O(n); time is one pass over the upper triangle of the n x n
    similarity matrix, i.e. GEMM-bound: 50k faces x 512-d took ~20 s on 2 shared cores,
    so 250k faces is ~8 min and 1M faces ~2 h there.

    `ivf` / `hnsw`: max_negative is searched among each face's candidates only. ivf (the
    `identity_pairs` IVF lists, one GEMM per list): the faces of its nprobe nearest lists
    and the faces whose nprobe lists include its own list (IVF's candidate relation made
    symmetric). hnsw: its k = own identity size + NEIGHBOR_MARGIN neighbours. Both: also the
    nearest other faces found for the other faces of its identity, so a misfiled photo that
    one face of its true person finds is a candidate for all of them. A face with no face of
    another identity among its candidates is searched exactly against all faces (None still
    means one identity only). min_positive stays exact.

    What the approximation can miss: when a face's most similar other-identity face is not
    among its candidates, the one reported is a real but less similar face, so max_negative
    is lower than the exact one, never higher (it is the float64 similarity of an actual
    face of another identity, and nearest_other names that face). Hence a face_suspect can
    be missed, never invented (the verdict, `suspect`, is exact whatever the index): every
    face flagged has a face of another identity more similar,
    in float64, than its least similar own face, so an exact float64 search flags it too
    (the flat pass, which also picks its winner in float32, can disagree only where two
    candidates, or max_negative and min_positive, are within float32 rounding, ~1e-6).
    Memory: n x nprobe int32 probe lists plus EVIDENCE_BLOCK similarities per tile (ivf), or
    the HNSW graph (hnsw). Time (ivf): ~n * nprobe * n / nlist products, about nlist /
    (2 nprobe) times fewer than flat; measured figures in docs/identity.md.
    """
    started = time.perf_counter()
    index = IndexKind.FLAT if config is None else config.index
    g = _group(faces)
    n, m = len(g.keys), len(g.names)
    min_pos = _min_positive(g)
    best_idx = np.full(n, -1, dtype=np.int64)
    fallback = 0
    if m >= 2:
        if config is None or config.index == IndexKind.FLAT:
            best_idx = _nearest_other_flat(g)
        else:
            with _faiss_threads(config.threads):
                best, best_idx = (
                    _nearest_other_ivf(g, config) if index == IndexKind.IVF else _nearest_other_hnsw(g, config)
                )
            _share_within_identities(g, best, best_idx)
            pending = np.flatnonzero(best_idx < 0)
            fallback = len(pending)
            if fallback:
                best_idx[pending] = _nearest_other_exact_rows(g, pending)
    max_neg = np.full(n, np.nan)
    has = np.flatnonzero(best_idx >= 0)
    for k0 in range(0, len(has), RECOMPUTE_ROWS):  # recompute the winners in float64, in chunks
        rows = has[k0 : k0 + RECOMPUTE_ROWS]
        max_neg[rows] = np.einsum("ij,ij->i", g.x[rows].astype(np.float64), g.x[best_idx[rows]].astype(np.float64))
    # the verdict's nearest other centroid: exact with flat; with ivf / hnsw, the identity of the
    # face's nearest other face found (n x m products would cost more than the approximate search)
    candidates = None if index == IndexKind.FLAT else np.where(best_idx >= 0, g.codes[best_idx], -1)
    evidence = centroid_evidence(g.x, g.codes, g.starts, candidates)
    suspects = evidence.suspect(margin)
    out = []
    for i in range(n):
        pos = None if np.isnan(min_pos[i]) else float(min_pos[i])
        neg = None if np.isnan(max_neg[i]) else float(max_neg[i])
        j, other_code = int(best_idx[i]), int(evidence.other_code[i])
        own, other = _number(evidence.own[i]), _number(evidence.other[i])
        out.append(
            LabelCheck(
                key=g.keys[i],
                identity=g.names[g.codes[i]],
                min_positive=pos,
                max_negative=neg,
                nearest_other_identity=g.names[g.codes[j]] if j >= 0 else None,
                nearest_other_key=g.keys[j] if j >= 0 else None,
                face_suspect=pos is not None and neg is not None and neg > pos,
                own_centroid_similarity=own,
                other_centroid_similarity=other,
                nearest_other_centroid=g.names[other_code] if other_code >= 0 else None,
                suspect_score=None if own is None or other is None else other - own,
                suspect=bool(suspects[i]),
            )
        )
    log.info(
        "label_checks: %d faces, %d identities, index %s: %d suspect (margin %g), %d by the notes' rule%s (%.2f s)",
        n,
        m,
        index,
        sum(c.suspect for c in out),
        margin,
        sum(c.face_suspect for c in out),
        f", {fallback} faces searched exactly (no other identity among their candidates)" if fallback else "",
        time.perf_counter() - started,
    )
    return out
