"""etl.identity.search: hand-made cases with exactly known answers, then a randomized
check against a brute-force numpy reference and against the notes' merge loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

import etl.identity.centroid_check as centroid_check
import etl.identity.search as search
from etl.identity.search import (
    FaceVectors,
    IdentityPair,
    SearchConfig,
    cross_identity_pairs,
    identity_pairs,
    label_checks,
    merge_groups,
)

# exact to float32 rounding of the inputs (0.6, 0.8 are not exact in float32)
EXACT = dict(abs=2e-7)
COS5, SIN5 = math.cos(math.radians(5)), math.sin(math.radians(5))


def make_faces(spec: dict[str, list[tuple[float, ...]]], order: list[int] | None = None) -> FaceVectors:
    """Keys are "<identity>/<i>"; `order` permutes the rows (results must not depend on it)."""
    rows = [(f"{name}/{i}", name, v) for name, vs in spec.items() for i, v in enumerate(vs)]
    if order is not None:
        rows = [rows[k] for k in order]
    return FaceVectors([r[0] for r in rows], [r[1] for r in rows], np.array([r[2] for r in rows], dtype=np.float32))


def centroid_cos(a: list[tuple[float, ...]], b: list[tuple[float, ...]]) -> float:
    ca, cb = np.sum(a, axis=0), np.sum(b, axis=0)
    return float(ca @ cb / (np.linalg.norm(ca) * np.linalg.norm(cb)))


# alice2 is alice again: face sims alice x alice2 = 0.6, 0.8, 0.96, 0.64; every other pair <= 0.6
DUPLICATE = {
    "alice": [(1.0, 0.0, 0.0), (0.8, 0.6, 0.0)],
    "alice2": [(0.6, 0.8, 0.0), (0.8, 0.0, 0.6)],
    "bob": [(0.0, 0.0, 1.0), (0.0, 0.6, 0.8)],
}


def test_planted_duplicate_is_linked_and_nothing_else():
    faces = make_faces(DUPLICATE, order=[5, 2, 0, 4, 1, 3])
    pairs = identity_pairs(faces, SearchConfig(threshold=0.7))
    assert len(pairs) == 1
    p = pairs[0]
    assert (p.first, p.second, p.linked, p.pairs_above, p.face_pairs) == ("alice", "alice2", True, 2, 4)
    assert p.max_similarity == pytest.approx(0.96, **EXACT)
    assert p.centroid_similarity == pytest.approx(3.0 / math.sqrt(3.6 * 2.96), **EXACT)
    assert [(a, b) for a, b, _ in p.example_pairs] == [
        ("alice/1", "alice2/0"),
        ("alice/0", "alice2/1"),
        ("alice/1", "alice2/1"),
    ]
    assert [s for _, _, s in p.example_pairs] == pytest.approx([0.96, 0.8, 0.64], **EXACT)
    # two faces each: the tie goes to the smaller name
    assert merge_groups(pairs, faces.face_counts()) == {"alice": "alice", "alice2": "alice"}
    # the input order does not matter
    assert identity_pairs(make_faces(DUPLICATE), SearchConfig(threshold=0.7)) == pairs


def test_examples_count_and_threshold_edge():
    faces = make_faces(DUPLICATE)
    (p,) = identity_pairs(faces, SearchConfig(threshold=0.7, examples=1))
    assert [(a, b) for a, b, _ in p.example_pairs] == [("alice/1", "alice2/0")]
    (p,) = identity_pairs(faces, SearchConfig(threshold=0.7, examples=0))
    assert p.example_pairs == []
    # 0.96 is not > 0.97: no candidate at all
    assert identity_pairs(faces, SearchConfig(threshold=0.97)) == []


def test_example_ties_follow_key_order():
    faces = make_faces({"k": [(1.0, 0.0)] * 2, "m": [(1.0, 0.0)] * 2})
    (p,) = identity_pairs(faces, SearchConfig(threshold=0.7))
    assert p.example_pairs == [("k/0", "m/0", 1.0), ("k/0", "m/1", 1.0), ("k/1", "m/0", 1.0)]
    assert (p.pairs_above, p.max_similarity) == (4, 1.0)


def test_hnsw_looks_past_a_large_own_identity():
    # a's faces see b's 8 same-named faces first (cosine 1); `other` (0.8) must still be found
    a = make_faces({"big": [(1.0, 0.0)] * 8})
    b = make_faces({"big": [(1.0, 0.0)] * 8, "other": [(0.8, 0.6)]})
    for index in ("flat", "ivf", "hnsw"):
        (p,) = cross_identity_pairs(a, b, SearchConfig(threshold=0.7, index=index))
        assert (p.first, p.second, p.pairs_above) == ("big", "other", 8), index


def test_min_pairs():
    faces = make_faces(DUPLICATE)
    (p2,) = identity_pairs(faces, SearchConfig(threshold=0.7, min_pairs=2))
    assert p2.linked and p2.pairs_above == 2
    (p3,) = identity_pairs(faces, SearchConfig(threshold=0.7, min_pairs=3))
    assert (p3.first, p3.second, p3.linked, p3.pairs_above) == ("alice", "alice2", False, 2)
    assert merge_groups([p3], faces.face_counts()) == {}


# A ~ B by one face pair (cos 5 deg) but their centroids point apart; C ~ D by centroid
# (D's faces are 0.8 c + / - 0.6 e1 around C's centroid c) with every face pair at 0.8 / sqrt 2.
C_UNIT = 1.0 / math.sqrt(2.0)
LINKAGE_CASE = {
    "A": [(1.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0)],
    "B": [(COS5, SIN5, 0.0, 0.0), (0.0, -1.0, 0.0, 0.0)],
    "C": [(0.0, 0.0, 1.0, 0.0), (0.0, 0.0, 0.0, 1.0)],
    "D": [(0.6, 0.0, 0.8 * C_UNIT, 0.8 * C_UNIT), (-0.6, 0.0, 0.8 * C_UNIT, 0.8 * C_UNIT)],
}


def test_centroid_and_max_linkage_disagree():
    faces = make_faces(LINKAGE_CASE)
    ab_centroid = centroid_cos(LINKAGE_CASE["A"], LINKAGE_CASE["B"])
    assert ab_centroid < 0.1  # the construction
    (ab,) = identity_pairs(faces, SearchConfig(threshold=0.7, linkage="max"))
    assert (ab.first, ab.second, ab.linked, ab.pairs_above) == ("A", "B", True, 1)
    assert ab.max_similarity == pytest.approx(COS5, **EXACT)
    assert ab.centroid_similarity == pytest.approx(ab_centroid, abs=1e-6)

    cd, ab2 = identity_pairs(faces, SearchConfig(threshold=0.7, linkage="centroid"))
    assert (cd.first, cd.second, cd.linked, cd.pairs_above, cd.face_pairs) == ("C", "D", True, 0, 4)
    assert cd.centroid_similarity == pytest.approx(1.0, **EXACT)
    assert cd.max_similarity == pytest.approx(0.8 * C_UNIT, **EXACT)
    assert (ab2.first, ab2.second, ab2.linked) == ("A", "B", False)
    counts = faces.face_counts()
    assert merge_groups([ab], counts) == {"A": "A", "B": "A"}
    assert merge_groups([cd, ab2], counts) == {"C": "C", "D": "C"}


def pair(first: str, second: str, linked: bool = True) -> IdentityPair:
    return IdentityPair(first, second, 0.9, 0.9, 1, 1, [], linked)


def test_merge_groups_transitive_and_canonical():
    pairs = [
        pair("b", "c"),
        pair("a", "b"),
        pair("e", "d"),
        pair("f", "g", linked=False),
        pair("x", "y"),
        pair("y", "x"),
    ]
    counts = {"a": 2, "b": 5, "c": 5, "d": 3, "e": 3, "f": 9, "g": 9, "x": 1, "y": 4}
    assert merge_groups(pairs, counts) == {
        "a": "b",
        "b": "b",
        "c": "b",  # a~b, b~c: one group; b and c tie on 5 faces -> "b"
        "d": "d",
        "e": "d",  # tie -> smaller name
        "x": "y",
        "y": "y",  # most faces
    }
    with pytest.raises(ValueError, match="no count for 1 linked identities"):
        merge_groups(pairs, {k: v for k, v in counts.items() if k != "c"})


def test_cross_join_skips_equal_names_unless_asked():
    a = make_faces({"x": [(1.0, 0.0, 0.0)], "y": [(0.0, 1.0, 0.0)], "zz": [(0.0, 0.0, 1.0)]})
    b = make_faces({"x": [(1.0, 0.0, 0.0)], "z": [(0.0, 0.8, 0.6)], "aa": [(0.0, 0.0, 1.0)]})
    config = SearchConfig(threshold=0.7)
    pairs = cross_identity_pairs(a, b, config)
    # first from a, second from b, whatever their string order
    assert [(p.first, p.second) for p in pairs] == [("zz", "aa"), ("y", "z")]
    assert [p.max_similarity for p in pairs] == pytest.approx([1.0, 0.8], **EXACT)
    assert pairs[0].example_pairs == [("zz/0", "aa/0", pytest.approx(1.0))]
    both = cross_identity_pairs(a, b, config, same_identity_ok=True)
    assert [(p.first, p.second) for p in both] == [("x", "x"), ("zz", "aa"), ("y", "z")]
    # x~x links a name with itself: no group for it
    assert merge_groups(both, {**a.face_counts(), **b.face_counts()}) == {"aa": "aa", "zz": "aa", "y": "y", "z": "y"}
    for index in ("ivf", "hnsw"):
        assert cross_identity_pairs(a, b, SearchConfig(threshold=0.7, index=index)) == pairs
    with pytest.raises(ValueError, match="same dimension"):
        cross_identity_pairs(a, make_faces({"q": [(1.0, 0.0)]}), config)


# p/2 belongs to q: its own identity gives it 0.6 and 0.48, q gives it 0.8 (q/0) and 0.768
LABELS = {
    "p": [(1.0, 0.0, 0.0), (0.8, 0.6, 0.0), (0.6, 0.0, 0.8)],
    "q": [(0.0, 0.0, 1.0), (0.0, 0.28, 0.96)],
    "s": [(-0.6, -0.8, 0.0)],
}


def test_label_check_flags_the_planted_face():
    checks = label_checks(make_faces(LABELS, order=[3, 5, 0, 2, 4, 1]))
    assert [c.key for c in checks] == ["p/0", "p/1", "p/2", "q/0", "q/1", "s/0"]
    by_key = {c.key: c for c in checks}
    assert [c.key for c in checks if c.suspect] == ["p/2"]
    bad = by_key["p/2"]
    assert (bad.identity, bad.nearest_other_identity, bad.nearest_other_key) == ("p", "q", "q/0")
    assert bad.min_positive == pytest.approx(0.48, **EXACT)
    assert bad.max_negative == pytest.approx(0.8, **EXACT)
    expected = {  # key: (min_positive, max_negative, nearest other key)
        "p/1": (0.48, 0.168, "q/1"),
        "q/0": (0.96, 0.8, "p/2"),
        "q/1": (0.96, 0.768, "p/2"),
        "s/0": (None, 0.0, "q/0"),
    }
    for key, (pos, neg, nearest) in expected.items():
        c = by_key[key]
        assert c.min_positive == (None if pos is None else pytest.approx(pos, **EXACT)), key
        assert (c.max_negative, c.nearest_other_key) == (pytest.approx(neg, **EXACT), nearest), key
    assert by_key["p/0"].min_positive == pytest.approx(0.6, **EXACT)
    assert by_key["s/0"].suspect is False  # a singleton has no positive to beat
    assert [c.key for c in checks if c.face_suspect] == ["p/2"]  # the notes' rule agrees here
    # the verdict: p/2 against p without it, (1.8, 0.6, 0) / sqrt(3.6): 1.08 / 1.897367 = 0.569210;
    # against q's centroid, (0, 0.28, 1.96) / sqrt(3.92): 1.568 / 1.979899 = 0.791960
    assert bad.own_centroid_similarity == pytest.approx(1.08 / math.sqrt(3.6), abs=1e-6)
    assert bad.other_centroid_similarity == pytest.approx(1.568 / math.sqrt(3.92), abs=1e-6)
    assert bad.nearest_other_centroid == "q"
    assert bad.suspect_score == pytest.approx(1.568 / math.sqrt(3.92) - 1.08 / math.sqrt(3.6), abs=1e-6)
    # q/0 against q/1 alone (0.96); p's centroid (2.4, 0.6, 0.8) / sqrt(6.76) = 0.8 / 2.6 = 0.307692
    q0 = by_key["q/0"]
    assert (q0.own_centroid_similarity, q0.other_centroid_similarity) == (
        pytest.approx(0.96, abs=1e-6),
        pytest.approx(0.8 / 2.6, abs=1e-6),
    )
    s0 = by_key["s/0"]  # no centroid without itself: no verdict, never suspect
    assert (s0.own_centroid_similarity, s0.suspect_score, s0.suspect) == (None, None, False)
    # s/0 . q's centroid = -0.8 * 0.28 / sqrt(3.92) = -0.113137; p's: (-1.44 - 0.48) / 2.6 = -0.738462
    assert (s0.nearest_other_centroid, s0.other_centroid_similarity) == ("q", pytest.approx(-0.224 / math.sqrt(3.92)))


def test_the_margin_decides_a_near_tie():
    """p/2's score is 0.222750: a margin below it flags p/2, a margin above it flags nothing."""
    faces = make_faces(LABELS)
    assert [c.key for c in label_checks(faces, margin=0.22) if c.suspect] == ["p/2"]
    assert [c.key for c in label_checks(faces, margin=0.23) if c.suspect] == []


def test_label_check_single_identity():
    checks = label_checks(make_faces({"only": [(1.0, 0.0), (0.6, 0.8)]}))
    assert [
        (c.min_positive, c.max_negative, c.nearest_other_identity, c.nearest_other_key, c.suspect) for c in checks
    ] == [(pytest.approx(0.6, **EXACT), None, None, None, False)] * 2
    (one,) = label_checks(make_faces({"only": [(1.0, 0.0)]}))
    assert (one.min_positive, one.max_negative, one.suspect) == (None, None, False)
    assert label_checks(FaceVectors([], [], np.zeros((0, 4), dtype=np.float32))) == []
    assert identity_pairs(FaceVectors([], [], np.zeros((0, 4), dtype=np.float32)), SearchConfig(0.5)) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(keys=["a"], identities=["x", "y"], vectors=[[1.0, 0.0]]), "one key and one identity per vector row"),
        (dict(keys=["a", "a"], identities=["x", "y"], vectors=[[1.0, 0.0], [0.0, 1.0]]), "'a' appears more than once"),
        (dict(keys=["a"], identities=["x"], vectors=[1.0, 0.0]), "2-D"),
        (dict(keys=["a"], identities=["x"], vectors=[[2.0, 0.0]]), "row 0 .key 'a'. has norm 2.000000"),
        (dict(keys=["a"], identities=["x"], vectors=[[np.nan, 1.0]]), "NaN or infinite"),
        (dict(keys=["a"], identities=["x"], vectors=np.array([[1, 0]])), "float array"),
        (dict(keys=[1], identities=["x"], vectors=[[1.0, 0.0]]), "keys must all be str"),
    ],
)
def test_face_vectors_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FaceVectors(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(threshold=1.5), r"threshold must be a cosine similarity in \(-1, 1\], got 1.5"),
        (dict(threshold=-1.0), r"in \(-1, 1\]"),
        (dict(threshold="0.7"), "threshold must be a number"),
        (dict(threshold=0.7, linkage="average"), "linkage 'average' is not one of: 'max', 'centroid'"),
        (dict(threshold=0.7, index="lsh"), "index 'lsh' is not one of: 'flat', 'ivf', 'hnsw'"),
        (dict(threshold=0.7, min_pairs=0), "min_pairs must be an int >= 1, got 0"),
        (dict(threshold=0.7, nprobe=0), "nprobe must be an int >= 1"),
        (dict(threshold=0.7, examples=-1), "examples must be an int >= 0"),
        (dict(threshold=0.7, nlist=0), "nlist must be None"),
        (dict(threshold=0.7, threads=0), "threads must be None"),
    ],
)
def test_search_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SearchConfig(**kwargs)


# --- randomized: brute force and the notes' loop ---------------------------------------------


def random_faces(seed: int = 3, identities: int = 300, per: int = 5, dim: int = 64, planted: int = 10):
    """Faces normalise(person + s r), within-person cosine ~0.75; the last `planted`
    identities reuse another identity's person vector (a known duplicate each)."""
    rng = np.random.default_rng(seed)
    persons = rng.standard_normal((identities - planted, dim))
    persons /= np.linalg.norm(persons, axis=1, keepdims=True)
    person_of = np.concatenate(
        [np.arange(identities - planted), rng.choice(identities - planted, planted, replace=False)]
    )
    names = [f"user{j:03d}" for j in rng.permutation(identities)]  # duplicates scattered in name order
    noise = rng.standard_normal((identities * per, dim))
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    x = np.repeat(persons[person_of], per, axis=0) + math.sqrt(1 / 3) * noise
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    ids = [names[i] for i in range(identities) for _ in range(per)]
    keys = [f"{names[i]}/{k}" for i in range(identities) for k in range(per)]
    planted_groups = {frozenset({names[i], names[int(person_of[i])]}) for i in range(identities - planted, identities)}
    return FaceVectors(keys, ids, x), planted_groups


def brute_pairs(faces: FaceVectors, config: SearchConfig) -> list[IdentityPair]:
    """Every identity pair, full float64 matrix, then the candidate rule; no blocking, no index."""
    x = faces.vectors.astype(np.float64)
    sims = x @ x.T
    rows: dict[str, list[int]] = {}
    for i, name in sorted(enumerate(faces.identities), key=lambda t: (t[1], faces.keys[t[0]])):
        rows.setdefault(name, []).append(i)
    names = sorted(rows)
    out = []
    for a_i, a in enumerate(names):
        for b in names[a_i + 1 :]:
            s = sims[np.ix_(rows[a], rows[b])]
            ca, cb = x[rows[a]].sum(axis=0), x[rows[b]].sum(axis=0)
            centroid = float(ca @ cb / (np.linalg.norm(ca) * np.linalg.norm(cb)))
            best, above = float(s.max()), int((s > config.threshold).sum())
            by_centroid = config.linkage == "centroid" and centroid >= config.threshold
            if not (best > config.threshold or by_centroid):
                continue
            linked = by_centroid if config.linkage == "centroid" else above >= config.min_pairs
            every = sorted(
                (
                    (-float(s[r, c]), faces.keys[ra], faces.keys[cb_])
                    for r, ra in enumerate(rows[a])
                    for c, cb_ in enumerate(rows[b])
                )
            )
            examples = [(ka, kb, -v) for v, ka, kb in every[: config.examples]]
            out.append(IdentityPair(a, b, best, centroid, above, s.size, examples, linked))
    return sorted(out, key=lambda p: (not p.linked, -p.max_similarity, p.first, p.second))


def assert_same_pairs(got: list[IdentityPair], want: list[IdentityPair]) -> None:
    assert [(p.first, p.second, p.linked, p.pairs_above, p.face_pairs) for p in got] == [
        (p.first, p.second, p.linked, p.pairs_above, p.face_pairs) for p in want
    ]
    for g, w in zip(got, want):
        assert g.max_similarity == pytest.approx(w.max_similarity, abs=1e-12)
        assert g.centroid_similarity == pytest.approx(w.centroid_similarity, abs=1e-12)
        assert [(a, b) for a, b, _ in g.example_pairs] == [(a, b) for a, b, _ in w.example_pairs]
        assert [s for *_, s in g.example_pairs] == pytest.approx([s for *_, s in w.example_pairs], abs=1e-12)


def notes_loop_groups(faces: FaceVectors, threshold: float) -> set[frozenset[str]]:
    """The notes' merge loop, verbatim semantics; groups derived from the merges it made."""
    dd: dict[str, np.ndarray] = {}
    for name in sorted(set(faces.identities)):
        dd[name] = faces.vectors[[i for i, n in enumerate(faces.identities) if n == name]]
    merged_into: dict[str, str] = {}
    tt = dd.copy()
    while len(tt) > 0:
        kk, vv = tt.popitem()
        for ikk, ivv in tt.items():
            imax = np.dot(vv, ivv.T).max()
            if imax > threshold:
                if kk in dd and ikk in dd:
                    dd[kk] = np.vstack([dd[kk], dd[ikk]])
                    dd.pop(ikk)
                    merged_into[ikk] = kk
    groups: dict[str, set[str]] = {}
    for member, root in merged_into.items():  # a merge target is never merged later: stars
        groups.setdefault(root, {root}).add(member)
    return {frozenset(g) for g in groups.values()}


def groups_of(mapping: dict[str, str]) -> set[frozenset[str]]:
    out: dict[str, set[str]] = {}
    for name, canonical in mapping.items():
        out.setdefault(canonical, set()).add(name)
    return {frozenset(g) for g in out.values()}


@pytest.fixture(scope="module")
def random_case():
    return random_faces()


@pytest.mark.parametrize("linkage", ["max", "centroid"])
def test_random_flat_equals_brute_force(random_case, linkage, monkeypatch):
    faces, planted = random_case
    config = SearchConfig(threshold=0.7, linkage=linkage)
    want = brute_pairs(faces, config)
    assert_same_pairs(identity_pairs(faces, config), want)
    # small tiles and evidence blocks: identities straddle tile edges, evidence is merged across blocks
    monkeypatch.setattr(search, "TILE_ROWS", 96)
    monkeypatch.setattr(search, "TILE_COLS", 256)
    monkeypatch.setattr(search, "EVIDENCE_BLOCK", 7)
    assert_same_pairs(identity_pairs(faces, config), want)
    if linkage == "max":
        assert {frozenset({p.first, p.second}) for p in want if p.linked} == planted


def test_random_min_pairs_equals_brute_force(random_case):
    faces, _ = random_case
    config = SearchConfig(threshold=0.7, min_pairs=24, examples=5)  # planted pairs have 21..25 above
    want = brute_pairs(faces, config)
    assert sum(p.linked for p in want) == 4 and len(want) == 10
    assert_same_pairs(identity_pairs(faces, config), want)


def test_random_merges_equal_the_notes_loop(random_case):
    faces, planted = random_case
    pairs = identity_pairs(faces, SearchConfig(threshold=0.7))
    merged = groups_of(merge_groups(pairs, faces.face_counts()))
    assert merged == notes_loop_groups(faces, 0.7) == planted
    assert len(merged) == 10


@pytest.mark.parametrize("index", ["ivf", "hnsw"])
def test_random_approximate_indexes_find_the_same_links(random_case, index):
    faces, planted = random_case
    for linkage in ("max", "centroid"):
        exact = identity_pairs(faces, SearchConfig(threshold=0.7, linkage=linkage))
        approx = identity_pairs(faces, SearchConfig(threshold=0.7, linkage=linkage, index=index, threads=1))
        assert [p for p in approx if p.linked] == [p for p in exact if p.linked]
        assert all(p in exact for p in approx)  # evidence is exact: a found pair is the flat one
    assert groups_of(merge_groups(approx, faces.face_counts())) == planted


def test_ivf_candidates_are_index_ivf_flat_candidates(random_case, monkeypatch):
    """The per-list GEMM join finds exactly the face pairs FAISS IndexIVFFlat.range_search
    finds with the same lists and nprobe (both directions of the self-join)."""
    import faiss

    faces, _ = random_case
    x = faces.vectors
    centroids = search._ivf_lists(x, SearchConfig(threshold=0.5, nlist=40))
    monkeypatch.setattr(search, "_ivf_lists", lambda d, config: centroids)
    monkeypatch.setattr(search, "IVF_QUERY_CHUNK", 257)  # several query chunks
    radius, nprobe = 0.5, 3
    codes = np.arange(len(x), dtype=np.int64)  # every face its own identity: hits are face pairs
    hits = search._Hits(codes, codes, len(x), self_join=True, same=None)
    search._ivf_join(x, x, radius, hits, SearchConfig(threshold=radius, nprobe=nprobe), self_join=True)
    got = {tuple(p) for p in hits.pairs().tolist()}
    quantizer = faiss.IndexFlatIP(x.shape[1])
    quantizer.add(centroids)
    index = faiss.IndexIVFFlat(quantizer, x.shape[1], len(centroids), faiss.METRIC_INNER_PRODUCT)
    index.add(x)
    index.nprobe = nprobe
    lims, sims, ids = index.range_search(x, radius)
    exact = x.astype(np.float64) @ x.T.astype(np.float64)
    want = set()
    for i in range(len(x)):
        for j in ids[lims[i] : lims[i + 1]].tolist():
            if i != j:
                want.add((min(i, j), max(i, j)))
    near = {(i, j) for i, j in got ^ want if abs(exact[i, j] - radius) < 1e-5}  # float rounding at the edge
    assert len(want) > 1000
    assert got ^ want == near
    # and they are a strict subset of the exact answer (approximate: some pairs are missed)
    assert len(want) < int(((np.triu(exact, 1)) > radius).sum())


def test_random_cross_join_equals_self_join_restricted(random_case):
    faces, _ = random_case
    names = sorted(set(faces.identities))
    left = set(names[: len(names) // 2])
    pick = lambda keep: [i for i, n in enumerate(faces.identities) if (n in left) == keep]  # noqa: E731
    a_rows, b_rows = pick(True), pick(False)
    a = FaceVectors([faces.keys[i] for i in a_rows], [faces.identities[i] for i in a_rows], faces.vectors[a_rows])
    b = FaceVectors([faces.keys[i] for i in b_rows], [faces.identities[i] for i in b_rows], faces.vectors[b_rows])
    config = SearchConfig(threshold=0.7)
    want = [p for p in brute_pairs(faces, config) if (p.first in left) != (p.second in left)]
    got = cross_identity_pairs(a, b, config)
    swapped = [
        p
        if p.first in left
        else IdentityPair(
            p.second,
            p.first,
            p.max_similarity,
            p.centroid_similarity,
            p.pairs_above,
            p.face_pairs,
            [(y, x, s) for x, y, s in p.example_pairs],
            p.linked,
        )
        for p in want
    ]
    swapped.sort(key=lambda p: (not p.linked, -p.max_similarity, p.first, p.second))
    assert want and len(got) == len(want)
    assert_same_pairs(got, swapped)


def test_random_label_checks_equal_brute_force(random_case, monkeypatch):
    faces, _ = random_case
    x = faces.vectors.astype(np.float64)
    sims = x @ x.T
    ids = np.array(faces.identities)
    same = ids[:, None] == ids[None, :]
    pos = np.where(same & ~np.eye(len(ids), dtype=bool), sims, np.inf).min(axis=1)
    neg_masked = np.where(same, -np.inf, sims)
    neg, nearest = neg_masked.max(axis=1), neg_masked.argmax(axis=1)
    want = {faces.keys[i]: (pos[i], neg[i], faces.keys[nearest[i]], bool(neg[i] > pos[i])) for i in range(len(ids))}
    # the verdict, face by face: its identity's sum without it, and every other identity's sum
    names = sorted(set(faces.identities))
    sums = {name: x[ids == name].sum(axis=0) for name in names}
    verdict = {}
    for i, key in enumerate(faces.keys):
        rest = sums[ids[i]] - x[i]
        own = float(x[i] @ rest / np.linalg.norm(rest)) if (ids == ids[i]).sum() > 1 else None
        others = {name: float(x[i] @ v / np.linalg.norm(v)) for name, v in sums.items() if name != ids[i]}
        near = max(others, key=lambda name: (others[name], [-ord(ch) for ch in name]))
        verdict[key] = (own, others[near], near)
    monkeypatch.setattr(search, "CHECK_TILE", 128)  # many tiles; identities straddle their edges
    monkeypatch.setattr(search, "EVIDENCE_BLOCK", 7)  # own-identity minima one row at a time
    monkeypatch.setattr(centroid_check, "ROW_TILE", 100)  # row and centroid tiles of the verdict
    monkeypatch.setattr(centroid_check, "CENTROID_TILE", 7)
    checks = label_checks(faces, margin=0.0)
    assert len(checks) == len(want)
    assert any(c.face_suspect for c in checks) and any(c.suspect for c in checks)
    for c in checks:
        p, n, k, s = want[c.key]
        assert (c.min_positive, c.max_negative) == (pytest.approx(p, abs=1e-12), pytest.approx(n, abs=1e-12))
        assert (c.nearest_other_key, c.face_suspect) == (k, s)
        own, other, near = verdict[c.key]
        assert c.own_centroid_similarity == (None if own is None else pytest.approx(own, abs=1e-12))
        assert (c.other_centroid_similarity, c.nearest_other_centroid) == (pytest.approx(other, abs=1e-12), near)
        assert c.suspect == (own is not None and other - own > 0.0)


# --- label checks at scale: ivf / hnsw -------------------------------------------------------


def mislabeled_faces(seed: int = 5, identities: int = 400, per: int = 10, dim: int = 128, mislabeled: int = 6):
    """Faces normalise(person + s r) (within-person cosine ~0.75, other people ~0); face 0 of
    `mislabeled` identities is a photo of another identity's person (a misfiled photo)."""
    rng = np.random.default_rng(seed)
    persons = rng.standard_normal((identities, dim))
    persons /= np.linalg.norm(persons, axis=1, keepdims=True)
    person_of = np.repeat(np.arange(identities), per)
    pairs = rng.choice(identities, (mislabeled, 2), replace=False)  # (true person, identity filed under)
    person_of[pairs[:, 1] * per] = pairs[:, 0]
    noise = rng.standard_normal((identities * per, dim))
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    x = persons[person_of] + math.sqrt(1 / 3) * noise
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    ids = [f"id{i // per:04d}" for i in range(identities * per)]
    keys = [f"{ids[i]}/{i % per}" for i in range(identities * per)]
    return FaceVectors(keys, ids, x), {f"id{b:04d}/0" for b in pairs[:, 1].tolist()}


@pytest.fixture(scope="module")
def mislabeled_case():
    faces, planted = mislabeled_faces()
    return faces, planted, label_checks(faces)


def test_label_checks_flat_config_is_the_exact_default(mislabeled_case):
    faces, _, flat = mislabeled_case
    assert label_checks(faces, SearchConfig(threshold=0.7)) == flat
    assert label_checks(faces, SearchConfig(threshold=0.3, index="flat", nprobe=1)) == flat


def test_ivf_label_checks_probing_every_list_equal_flat(mislabeled_case):
    faces, planted, flat = mislabeled_case
    assert planted <= {c.key for c in flat if c.suspect}
    got = label_checks(faces, SearchConfig(threshold=0.7, index="ivf", nlist=40, nprobe=40, threads=1))
    evidence = lambda c: (c.key, c.min_positive, c.max_negative, c.nearest_other_key, c.face_suspect)  # noqa: E731
    assert [evidence(c) for c in got] == [evidence(c) for c in flat]  # every float64 number, nearest key and flag
    # the verdict compares each face with the centroid of its nearest other face's identity only:
    # never above the exact nearest other centroid, the same own centroid, and here the same suspects
    assert [c.own_centroid_similarity for c in got] == [c.own_centroid_similarity for c in flat]
    assert all(c.other_centroid_similarity <= f.other_centroid_similarity + 1e-12 for c, f in zip(got, flat))
    assert {c.key for c in got if c.suspect} == {c.key for c in flat if c.suspect} == planted


@pytest.mark.parametrize("index", ["ivf", "hnsw"])
def test_approximate_label_checks_find_the_misfiled_faces(mislabeled_case, index):
    faces, planted, flat = mislabeled_case
    got = label_checks(faces, SearchConfig(threshold=0.7, index=index, threads=1))  # default nprobe / ef_search
    assert [c.key for c in got] == [c.key for c in flat]
    suspects = {c.key for c in got if c.suspect}
    assert planted <= suspects
    assert suspects == {c.key for c in flat if c.suspect}
    row = {k: i for i, k in enumerate(faces.keys)}
    x = faces.vectors.astype(np.float64)
    lower = 0
    for c, f in zip(got, flat):
        assert c.min_positive == f.min_positive  # exact in both
        # a real face of another identity, its similarity recomputed in float64: never above the exact one
        assert c.nearest_other_identity != c.identity
        assert c.nearest_other_key.split("/")[0] == c.nearest_other_identity
        assert c.max_negative == pytest.approx(float(x[row[c.key]] @ x[row[c.nearest_other_key]]), abs=1e-12)
        assert c.max_negative <= f.max_negative + 1e-6
        lower += c.max_negative < f.max_negative - 1e-6
    if index == "ivf":
        # an ordinary face's nearest other person is noise, often outside its candidates: the
        # ivf path searched less than all pairs (a silent fallback to flat would give 0; 184 here)
        assert lower > len(got) // 100


def test_ivf_label_check_misses_a_suspect_outside_its_lists(monkeypatch):
    """a/0's nearest other face (b/0, 0.96 > its positive 0.8) lies in the list it does not
    probe: with nprobe 1 it sees only c/0 (0.224) and is not flagged; with both lists probed it
    is. b/0's list holds no other identity, so it is searched exactly."""
    spec = {
        "a": [(0.8, 0.6, 0.0), (1.0, 0.0, 0.0)],
        "b": [(0.6, 0.8, 0.0)],
        "c": [(0.28, 0.0, 0.96)],
    }
    faces = make_faces(spec)
    lists = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32)  # a/0, a/1, c/0 | b/0
    monkeypatch.setattr(search, "_ivf_lists", lambda d, config: lists)
    flat = {c.key: c for c in label_checks(faces)}
    assert flat["a/0"].face_suspect and flat["a/0"].nearest_other_key == "b/0"
    near = {c.key: c for c in label_checks(faces, SearchConfig(threshold=0.7, index="ivf", nprobe=1))}
    a0 = near["a/0"]
    assert (a0.nearest_other_key, a0.face_suspect) == ("c/0", False)  # missed, with a lower, real negative
    assert a0.max_negative == pytest.approx(0.224, **EXACT) and a0.min_positive == pytest.approx(0.8, **EXACT)
    assert near["b/0"] == flat["b/0"]  # exact fallback: nearest a/0 at 0.96
    assert near["c/0"] == flat["c/0"]  # a/1 (0.28) is in c/0's own list
    assert (near["a/1"].nearest_other_key, flat["a/1"].nearest_other_key) == ("c/0", "b/0")  # 0.28 < 0.6
    assert [k for k, c in flat.items() if c.face_suspect] == ["a/0"]
    assert not any(c.face_suspect for c in near.values())
    both = label_checks(faces, SearchConfig(threshold=0.7, index="ivf", nprobe=2))
    assert {c.key: c for c in both} == flat


def test_ivf_label_check_shares_a_found_neighbour_within_the_identity(monkeypatch):
    """m/0 is a photo of a's person filed under m. a/0 shares its list with m/0 and finds it;
    a/1 lives in the other list, and with nprobe 1 neither probes the other's list, yet a/1
    is flagged too: the nearest other face a/0 found is offered to every face of a."""
    m0 = np.array([0.70, 0.714, 0.0]) / np.linalg.norm([0.70, 0.714, 0.0])
    spec = {
        "a": [(0.6, 0.8, 0.0), (0.8, 0.6, 0.0)],  # lists: a/0 -> 2, a/1 -> 1; a/0 . a/1 = 0.96
        "m": [tuple(m0), (0.28, 0.0, 0.96)],  # m/0 -> 2 (0.99 with both a faces), m/1 -> 1
    }
    faces = make_faces(spec)
    lists = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32)
    monkeypatch.setattr(search, "_ivf_lists", lambda d, config: lists)
    config = SearchConfig(threshold=0.7, index="ivf", nprobe=1)
    flat = label_checks(faces)
    assert [c.key for c in flat if c.face_suspect] == ["a/0", "a/1", "m/0", "m/1"]  # m/0 . m/1 = 0.196
    # the notes' rule drags all four; the verdict flags the misfiled photo only (m/1: 0.198 vs 0.196 own)
    assert [c.key for c in flat if c.suspect] == ["m/0"]
    assert label_checks(faces, config) == flat
    monkeypatch.setattr(search, "_share_within_identities", lambda g, best, best_idx: None)
    alone = {c.key: c for c in label_checks(faces, config)}
    assert (alone["a/1"].nearest_other_key, alone["a/1"].face_suspect) == ("m/1", False)  # 0.224 only
    assert alone["a/0"].face_suspect
