"""Dedup benchmark: the notes' identity-merge loop vs facelake identity_pairs + merge_groups.

Cases (bench/dedup_cases.py), each with planted duplicates (one person under two or more
names):
  * random (--sizes): random 512-d unit "person" vectors, 5 faces each at cosine ~0.75;
    different people at ~0: easy;
  * clusters (--cluster-sizes): hard negatives: look-alike families of 512-d identities
    whose nearest neighbours' highest face pair lies around 0.55-0.75, across the notes'
    0.7 threshold;
  * dlib (unless --no-dlib): hard negatives from real faces: dlib 128-d descriptors of the
    8 people in the photos shipped in installed packages, 3 users x 5 augmented photos
    each (flip, rotation, crop, brightness, blur, JPEG), at facelake's dlib max-linkage
    threshold (0.93; the notes' 0.7 is for their 512-d model and would merge everyone).
Max linkage throughout (a pair of identities is linked when some face pair is above
the threshold).

Per case and size, each in its own subprocess (so peak RSS, from /proc, is its own):
  * baseline: the notes' loop, verbatim semantics (dict popitem / pairwise np.dot max >
    threshold, its "First / Second / Max dist" line kept as the list of linked pairs /
    vstack merge when both are still present). Above --baseline-max-pairs identity pairs
    it is timed on the first P identities (P(P-1)/2 <= the limit) and its time is
    extrapolated by pair count;
  * reference (only then): the loop's rule at full size, exact: blocked float32 GEMM for
    the identity pairs above the threshold, then the loop's pop order and "both still
    present" test replayed on them;
  * facelake: identity_pairs(max linkage, --index) + merge_groups;
  * stats (up to STATS_MAX_FACES faces; always for dlib): how hard the case is: each
    identity's highest face-pair similarity to another person's identity, and the
    identity pairs near the threshold (where float rounding could decide).

Checks (the bench exits 1 when one fails): facelake's linked pairs are the loop's
(every pair the loop prints), and facelake's merge set is the loop's merges made
transitive. facelake merges transitively (union-find: a~b and b~c make one group); the
loop merges greedily and leaves such a chain split (c absorbed by b is no longer there
when a is compared). So the loop's own groups must each lie inside one facelake group,
and the report counts the chains the loop leaves split. Seconds cover the search and
merge only, not building the data. The table goes to stdout and --out (Markdown), every
figure and check to --json; the rest is logged to stderr.

    .venv/bin/python bench/dedup.py [--sizes 2000,10000] [--cluster-sizes 2000] [--no-dlib]
        [--faces 5] [--dim 512] [--duplicates 1%] [--index flat,ivf] [--baseline-max-pairs N]
        [--no-reference] [--out FILE.md] [--json FILE.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.dedup_cases import (  # noqa: E402
    Dataset,
    clusters_case,
    dlib_case,
    embed_dlib_case,
    random_case,
)
from bench.process_memory import reset_peak_rss, status_mb  # noqa: E402

log = logging.getLogger("bench.dedup")

THRESHOLD = 0.7  # the notes' OUT_THREASH
DLIB_THRESHOLD = 0.93  # facelake's max-linkage default for dlib_resnet_v1 (etl.identity.thresholds)
# ~3 minutes of the loop at the 3.0 us per identity pair measured on this machine
DEFAULT_BASELINE_MAX_PAIRS = 60_000_000
STATS_MAX_FACES = 60_000
STATS_BLOCK = 1024  # face rows per GEMM block in the stats child
NEAR = 0.02  # "near the threshold": |max similarity - threshold| <= NEAR
HARDNESS_KEYS = (
    "nearest_other_q05",
    "nearest_other_median",
    "nearest_other_q95",
    "other_above",
    "pairs_near",
    "closest_gap",
)


# --- the methods (run inside a child process) ------------------------------------------------


def make_dataset(task: dict) -> Dataset:
    if task["case"] == "dlib":
        return dlib_case(Path(task["vectors"]))
    build = random_case if task["case"] == "random" else clusters_case
    return build(task["identities"], task["faces"], task["dim"], task["duplicates"], task["seed"])


def notes_loop(dd: dict[str, np.ndarray], threshold: float) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The notes' loop, verbatim semantics: (merges (target, absorbed), linked pairs). Its print
    is a debug log line here, and the pairs it names are kept."""
    OUT_THREASH = threshold  # noqa: N806 - the notes' name
    merges, pairs = [], []
    tt = dd.copy()
    while len(tt) > 0:
        kk, vv = tt.popitem()
        for ikk, ivv in tt.items():
            imax = np.dot(vv, ivv.T).max()
            if imax > OUT_THREASH:
                log.debug("First: %s, Second: %s, Max dist: %.4f", kk, ikk, imax)
                pairs.append((kk, ikk))
                if kk in dd and ikk in dd:
                    dd[kk] = np.vstack([dd[kk], dd[ikk]])
                    dd.pop(ikk)
                    merges.append((kk, ikk))
    return merges, pairs


def loop_rule(
    data: Dataset, threshold: float, limit: int | None = None
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The loop's (merges, linked pairs) over the first `limit` identities, exactly, without the loop.

    The loop pops identities from last to first; each is compared with every earlier one
    still in the copy, and absorbs it when max face similarity > threshold and both are
    still present. Only the above-threshold pairs matter, so they are found with blocked
    float32 GEMM (upper triangle) and the pop order is replayed on them.
    """
    m = len(data.names) if limit is None else limit
    n = int(data.starts[m])
    codes = np.repeat(np.arange(m), np.diff(data.starts[: m + 1]))
    x = data.x[:n]
    found = []
    for i0 in range(0, n, 2048):
        for j0 in range(i0, n, 8192):
            s = x[i0 : i0 + 2048] @ x[j0 : j0 + 8192].T
            flat = np.flatnonzero(s > threshold)
            r, c = np.divmod(flat, s.shape[1])
            ci, cj = codes[r + i0], codes[c + j0]
            keep = ci != cj
            found.append(np.unique(np.minimum(ci[keep], cj[keep]) * m + np.maximum(ci[keep], cj[keep])))
    packed = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
    earlier: dict[int, list[int]] = {}
    for lo, hi in zip((packed // m).tolist(), (packed % m).tolist(), strict=True):
        earlier.setdefault(hi, []).append(lo)  # ascending lo: the order tt.items() meets them
    present = np.ones(m, dtype=bool)
    merges, pairs = [], []
    for kk in range(m - 1, -1, -1):
        for ikk in earlier.get(kk, []):
            pairs.append((kk, ikk))
            if present[kk] and present[ikk]:
                present[ikk] = False
                merges.append((kk, ikk))
    return merges, pairs


def person_codes(data: Dataset) -> np.ndarray:
    """Per identity, a code shared by the identities planted as one person."""
    code = {name: i for i, name in enumerate(data.names)}
    person = np.arange(len(data.names))
    for group in data.planted:
        members = [code[name] for name in group]
        person[members] = min(members)
    return person


def hardness(data: Dataset, threshold: float) -> dict:
    """How hard the case is (float32 GEMM, a block of identities at a time): each identity's highest
    face-pair similarity to an identity of another person (a hard negative when near or above the
    threshold), and how close any identity pair comes to the threshold."""
    m = len(data.names)
    person = person_codes(data)
    per_block = max(1, STATS_BLOCK // int(np.diff(data.starts).max()))
    nearest_other = np.full(m, -np.inf)
    near, closest = 0, math.inf
    for i0 in range(0, m, per_block):
        i1 = min(m, i0 + per_block)
        s = data.x[data.starts[i0] : data.starts[i1]] @ data.x.T
        by_identity = np.maximum.reduceat(
            np.maximum.reduceat(s, data.starts[:-1], axis=1), data.starts[i0:i1] - data.starts[i0], axis=0
        )  # (i1 - i0, m)
        other = np.where(person[i0:i1, None] != person[None, :], by_identity, -np.inf)
        nearest_other[i0:i1] = other.max(axis=1)
        gaps = np.abs(by_identity - threshold)[np.arange(m)[None, :] > np.arange(i0, i1)[:, None]]  # pairs i < j
        near += int(np.count_nonzero(gaps <= NEAR))
        closest = min(closest, float(gaps.min())) if gaps.size else closest
    q05, median, q95 = np.quantile(nearest_other, [0.05, 0.5, 0.95]) if m > 1 else [math.nan] * 3
    return dict(
        zip(
            HARDNESS_KEYS,
            (float(q05), float(median), float(q95), int(np.count_nonzero(nearest_other > threshold)), near, closest),
            strict=True,
        )
    )


def named(data: Dataset, index_pairs: list[tuple[int, int]]) -> list[tuple[str, str]]:
    return [(data.names[a], data.names[b]) for a, b in index_pairs]


def run_baseline(data: Dataset, task: dict, start: Callable[[], float]) -> dict:
    m = len(data.names)
    prefix = min(m, (1 + math.isqrt(1 + 8 * task["max_pairs"])) // 2)  # largest P with P(P-1)/2 <= max
    dd = {name: data.x[data.starts[i] : data.starts[i + 1]] for i, name in enumerate(data.names[:prefix])}
    started = start()
    merges, pairs = notes_loop(dd, task["threshold"])
    seconds = time.perf_counter() - started
    timed, total = prefix * (prefix - 1) // 2, m * (m - 1) // 2
    return {
        "seconds": seconds * total / max(timed, 1),
        "timed_seconds": seconds,
        "prefix": prefix,
        "prefix_names": data.names[:prefix],
        "groups": groups_from_merges(merges),
        "pairs": pair_list(pairs),
    }


def run_reference(data: Dataset, task: dict, start: Callable[[], float]) -> dict:
    started = start()
    merges, pairs = loop_rule(data, task["threshold"])
    seconds = time.perf_counter() - started
    prefix_merges, prefix_pairs = loop_rule(data, task["threshold"], task["prefix"])
    return {
        "seconds": seconds,
        "groups": groups_from_merges(named(data, merges)),
        "pairs": pair_list(named(data, pairs)),
        "prefix_groups": groups_from_merges(named(data, prefix_merges)),
        "prefix_pairs": pair_list(named(data, prefix_pairs)),
    }


def run_facelake(data: Dataset, task: dict, start: Callable[[], float]) -> dict:
    from etl.identity.search import (
        FaceVectors,
        SearchConfig,
        identity_pairs,
        merge_groups,
    )

    sizes = np.diff(data.starts)
    ids = [name for name, k in zip(data.names, sizes, strict=True) for _ in range(k)]
    keys = [f"{name}/{j}" for name, k in zip(data.names, sizes, strict=True) for j in range(k)]
    faces = FaceVectors(keys, ids, data.x)
    if task["index"] != "flat":
        import faiss  # noqa: F401 - loaded once per process; not part of the timing

    started = start()
    pairs = identity_pairs(faces, SearchConfig(threshold=task["threshold"], index=task["index"]))
    mapping = merge_groups(pairs, faces.face_counts())
    seconds = time.perf_counter() - started
    groups: dict[str, list[str]] = {}
    for name, canonical in mapping.items():
        groups.setdefault(canonical, []).append(name)
    return {
        "seconds": seconds,
        "groups": sorted(sorted(g) for g in groups.values()),
        "pairs": pair_list([(p.first, p.second) for p in pairs if p.linked]),
    }


def child(task: dict) -> dict:
    data = make_dataset(task)
    result: dict = {
        "planted": sorted(sorted(g) for g in data.planted),
        "data_mb": data.x.nbytes / 2**20,
        "identities": len(data.names),
        "faces": int(data.starts[-1]),
    }
    peak_reset = False

    def start() -> float:
        """Peak RSS counts from here (what is resident now, inputs included, stays counted)."""
        nonlocal peak_reset
        peak_reset = reset_peak_rss()
        result["start_rss_mb"] = status_mb("VmRSS")
        return time.perf_counter()

    if task["method"] == "stats":
        result.update(hardness(data, task["threshold"]), seconds=0.0)
    else:
        run = {"baseline": run_baseline, "reference": run_reference, "facelake": run_facelake}[task["method"]]
        result.update(run(data, task, start))
    hwm = status_mb("VmHWM") if peak_reset else None
    # without the reset, ru_maxrss (KiB on Linux) also counts building the data
    result["peak_rss_mb"] = hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["peak_covers_data_building"] = hwm is None
    return result


def run_child(task: dict) -> dict:
    log.info("running %s", task)
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(task)], cwd=REPO, check=True, stdout=subprocess.PIPE, text=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if task["method"] != "stats":
        log.info(
            "-> %.2f s, peak RSS %.0f MB, %d linked pairs, %d groups",
            result["seconds"],
            result["peak_rss_mb"],
            len(result["pairs"]),
            len(result["groups"]),
        )
    return result


# --- merge sets ------------------------------------------------------------------------------

Groups = set[frozenset[str]]


def groups_from_merges(merges: list[tuple[str, str]]) -> list[list[str]]:
    """The loop's merges (target, absorbed) as sorted groups; a target is never absorbed later."""
    groups: dict[str, set[str]] = {}
    for target, absorbed in merges:
        groups.setdefault(target, {target}).add(absorbed)
    return sorted(sorted(g) for g in groups.values())


def pair_list(pairs: list[tuple[str, str]]) -> list[list[str]]:
    return sorted(sorted(p) for p in pairs)


def as_groups(rows: list[list[str]]) -> Groups:
    return {frozenset(g) for g in rows}


def transitive_groups(pairs: list[list[str]]) -> Groups:
    """Connected components (two or more names) of the linked pairs."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    components: dict[str, set[str]] = {}
    for name in list(parent):
        components.setdefault(find(name), set()).add(name)
    return {frozenset(c) for c in components.values() if len(c) > 1}


def compare(got: Groups, want: Groups) -> str:
    if got == want:
        return "yes"
    return f"NO ({len(want - got)} missing, {len(got - want)} extra)"


def split_chains(greedy: Groups, transitive: Groups) -> tuple[int, bool]:
    """(transitive groups the greedy loop leaves split, every greedy group inside one transitive group)."""
    inside = all(any(g <= t for t in transitive) for g in greedy)
    return len(transitive - greedy), inside


# --- one case --------------------------------------------------------------------------------


@dataclass
class CaseOutcome:
    rows: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)


@dataclass
class Case:
    """One case at one size, as it is being run: its facts, the baseline's seconds, what it found."""

    name: str
    identities: int
    faces: int
    threshold: float
    baseline_seconds: float
    outcome: CaseOutcome = field(default_factory=CaseOutcome)

    @property
    def label(self) -> str:
        return f"{self.name} | {self.identities:,} ({self.faces:,} faces)"

    def row(self, method: str, result: dict, same: str, planted_vs: str, groups: str = "") -> None:
        ratio = self.baseline_seconds / result["seconds"]
        self.outcome.rows.append(
            f"| {self.label} | {method} | {result['seconds']:.2f} | {ratio:.1f} | "
            f"{result['peak_rss_mb']:.0f} (start {result['start_rss_mb'] or 0:.0f}) | "
            f"{len(result['pairs'])} | {groups or len(result['groups'])} | {same} | {planted_vs} |"
        )
        self.outcome.results.append(
            {
                "case": self.name,
                "identities": self.identities,
                "faces": self.faces,
                "threshold": self.threshold,
                "method": method,
                "seconds": result["seconds"],
                "ratio": ratio,
                "peak_rss_mb": result["peak_rss_mb"],
                "linked_pairs": len(result["pairs"]),
                "merge_groups": len(result["groups"]),
                "same_merge_set": same,
                "vs_planted": planted_vs,
            }
        )


Expected = tuple[list[list[str]] | None, Groups | None, Groups]  # (linked pairs, the loop's greedy groups, merge set)


def expected_sets(case: Case, base: dict, baseline: dict, planted: Groups, args: argparse.Namespace) -> Expected:
    """What facelake must find (the loop's, or the exact replay of its rule where the loop ran on a
    prefix); rows for the baseline (and the replay)."""
    if baseline["prefix"] == case.identities:
        case.row("notes' loop (baseline)", baseline, "—", compare(as_groups(baseline["groups"]), planted))
        return baseline["pairs"], as_groups(baseline["groups"]), transitive_groups(baseline["pairs"])
    prefix_groups = f"{len(baseline['groups'])} (prefix)"
    if args.no_reference and case.name == "random":
        prefix_planted = {g for g in planted if g <= set(baseline["prefix_names"])}
        case.row(
            extrapolated_label(baseline, case.identities),
            baseline,
            "—",
            f"{compare(as_groups(baseline['groups']), prefix_planted)} (prefix)",
            groups=prefix_groups,
        )
        case.outcome.notes.append(
            f"{case.label}: the loop is too slow to run whole and --no-reference skipped the "
            "exact replay of its rule: facelake is checked against the planted groups only."
        )
        return None, None, planted
    reference = run_child({**base, "method": "reference", "prefix": baseline["prefix"]})
    prefix_same = baseline["pairs"] == reference["prefix_pairs"] and as_groups(baseline["groups"]) == as_groups(
        reference["prefix_groups"]
    )
    case.row(
        extrapolated_label(baseline, case.identities),
        baseline,
        f"{'yes' if prefix_same else 'NO'} (prefix: loop vs the exact replay)",
        "—",
        groups=prefix_groups,
    )
    greedy = as_groups(reference["groups"])
    case.row("loop rule, exact blocked numpy (reference)", reference, "—", compare(greedy, planted))
    if not prefix_same:
        case.outcome.problems.append(
            f"{case.label}: the exact replay of the loop's rule differs from the loop on "
            f"the first {baseline['prefix']} identities"
        )
    return reference["pairs"], greedy, transitive_groups(reference["pairs"])


def check_facelake(case: Case, base: dict, index: str, expected: Expected, planted: Groups) -> None:
    """facelake with `index`: its row, and a problem when its linked pairs or merge set differ."""
    want_pairs, _, want = expected
    result = run_child({**base, "method": "facelake", "index": index})
    got = as_groups(result["groups"])
    same = compare(got, want)
    if want_pairs is not None and result["pairs"] != want_pairs:
        same += "; linked pairs differ"
    case.row(f"facelake identity_pairs + merge_groups, index={index}", result, same, compare(got, planted))
    if same != "yes":
        case.outcome.problems.append(
            f"{case.label}, index={index}: merge set differs from the baseline's: {same}"
            + pair_difference(result["pairs"], want_pairs)
        )


def add_hardness(case: Case, base: dict) -> None:
    stats = run_child({**base, "method": "stats"})
    case.outcome.notes.append(hardness_note(case.label, case.threshold, stats))
    case.outcome.results.append(
        {
            "case": case.name,
            "identities": case.identities,
            "faces": case.faces,
            "method": "stats",
            **{k: stats[k] for k in HARDNESS_KEYS},
        }
    )


def bench_case(name: str, identities: int, args: argparse.Namespace, vectors: Path | None) -> CaseOutcome:
    threshold = DLIB_THRESHOLD if name == "dlib" else THRESHOLD
    duplicates = 0 if name == "dlib" else parse_duplicates(args.duplicates, identities)
    base = {
        "case": name,
        "identities": identities,
        "faces": args.faces,
        "dim": args.dim,
        "duplicates": duplicates,
        "seed": args.seed,
        "threshold": threshold,
        "vectors": str(vectors) if vectors else None,
    }
    baseline = run_child({**base, "method": "baseline", "max_pairs": args.baseline_max_pairs})
    # the dlib case's sizes come from its vectors
    case = Case(name, baseline["identities"], baseline["faces"], threshold, baseline["seconds"])
    planted = as_groups(baseline["planted"])
    expected = expected_sets(case, base, baseline, planted, args)
    if expected[1] is not None:
        case.outcome.notes.append(greedy_note(case.label, expected[1], expected[2], case.outcome))
    for index in args.index:
        check_facelake(case, base, index, expected, planted)
    if case.faces <= STATS_MAX_FACES:
        add_hardness(case, base)
    if name == "dlib":
        case.outcome.notes.append(
            f"{case.label}: a correctness case: at {case.identities} identities both take "
            "milliseconds, so its seconds and ratio say nothing about speed."
        )
    case.outcome.notes.append(
        f"{case.label}: threshold {threshold}; {len(planted)} planted groups; input "
        f"{baseline['data_mb']:.1f} MB of float32 vectors."
    )
    return case.outcome


def extrapolated_label(baseline: dict, identities: int) -> str:
    timed = baseline["prefix"] * (baseline["prefix"] - 1) // 2
    total = identities * (identities - 1) // 2
    return (
        f"notes' loop, extrapolated from the first {baseline['prefix']} identities "
        f"({baseline['timed_seconds']:.1f} s for {timed:,} of {total:,} pairs)"
    )


def greedy_note(label: str, greedy: Groups, transitive: Groups, outcome: CaseOutcome) -> str:
    """What the loop's own greedy merges leave split, compared with the transitive merge set."""
    split, inside = split_chains(greedy, transitive)
    if not inside:
        outcome.problems.append(f"{label}: a group the loop merged is not inside one transitive group")
    if not split:
        return f"{label}: the loop's own greedy merges equal the transitive merge set."
    return (
        f"{label}: the loop's own greedy merges leave {split} of {len(transitive)} transitive group(s) split "
        f"(chains); every loop group lies inside one facelake group: {'yes' if inside else 'NO'}."
    )


def pair_difference(got: list[list[str]], want: list[list[str]] | None) -> str:
    if want is None:
        return ""
    got_set, want_set = {tuple(p) for p in got}, {tuple(p) for p in want}
    missing, extra = sorted(want_set - got_set), sorted(got_set - want_set)
    return f"; linked pairs missing {missing[:3]}{' ...' if len(missing) > 3 else ''}, extra {extra[:3]}"


def hardness_note(label: str, threshold: float, stats: dict) -> str:
    return (
        f"{label}: each identity's highest face-pair similarity to another person's identity (5/50/95 %): "
        f"{stats['nearest_other_q05']:.3f} / {stats['nearest_other_median']:.3f} / "
        f"{stats['nearest_other_q95']:.3f}; {stats['other_above']} identities above {threshold} with another "
        f"person (hard negatives the rule links); {stats['pairs_near']} identity pairs within ±{NEAR} of "
        f"{threshold}, the closest {stats['closest_gap']:.1e} from it."
    )


def parse_duplicates(text: str, identities: int) -> int:
    count = round(identities * float(text[:-1]) / 100) if text.endswith("%") else int(text)
    if not 0 <= count <= identities // 2:
        raise ValueError(f"--duplicates must leave each duplicate an original: got {text} of {identities}")
    return count


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2000,10000", help="random case: identity counts, comma-separated")
    parser.add_argument(
        "--cluster-sizes", default="2000", help="clusters case: identity counts, comma-separated ('' for none)"
    )
    parser.add_argument("--no-dlib", action="store_true", help="skip the dlib case (real faces)")
    parser.add_argument("--faces", type=int, default=5, help="faces per identity (random, clusters)")
    parser.add_argument("--dim", type=int, default=512, help="vector dimension (random, clusters)")
    parser.add_argument("--duplicates", default="1%", help="planted duplicate identities: N or P%% of each size")
    parser.add_argument("--index", default="flat,ivf", help="facelake indexes to run: flat, ivf, hnsw")
    parser.add_argument(
        "--baseline-max-pairs",
        type=int,
        default=DEFAULT_BASELINE_MAX_PAIRS,
        help="above this many identity pairs the loop runs on a prefix and is extrapolated",
    )
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="random case, where the loop is extrapolated: skip the exact replay of its rule at "
        "full size (about as long as index=flat); merge sets are then checked against the "
        "planted groups",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown report here")
    parser.add_argument("--json", type=Path, default=None, help="write every figure and check to this JSON file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.index = [i.strip() for i in args.index.split(",") if i.strip()]
    unknown = [i for i in args.index if i not in ("flat", "ivf", "hnsw")]
    if unknown:
        parser.error(f"--index {unknown} not one of: flat, ivf, hnsw")
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.cluster_sizes = [int(s) for s in args.cluster_sizes.split(",") if s.strip()]
    return args


def run_cases(args: argparse.Namespace, work: Path) -> CaseOutcome:
    total = CaseOutcome()
    cases = [("random", size) for size in args.sizes] + [("clusters", size) for size in args.cluster_sizes]
    vectors = None
    if not args.no_dlib:
        vectors = work / "dlib_vectors.npz"
        embed_dlib_case(vectors, args.seed)
        cases.append(("dlib", 0))
    for case, size in cases:
        outcome = bench_case(case, size, args, vectors)
        for name in ("rows", "notes", "problems", "results"):
            getattr(total, name).extend(getattr(outcome, name))
    return total


def report(outcome: CaseOutcome, args: argparse.Namespace) -> str:
    header = [
        "| case | identities (faces) | method | seconds | × baseline | peak RSS MB | linked pairs | merge groups "
        "| same merge set as the notes' loop | vs planted |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    return "\n".join(
        header
        + outcome.rows
        + [""]
        + [f"- {n}" for n in outcome.notes]
        + [
            f"- max linkage, min_pairs 1; dim {args.dim} (dlib: 128); seed {args.seed}; seconds exclude building the "
            "data and loading FAISS; each row ran in its own process. Same merge set: facelake's linked pairs are the "
            "loop's and its groups are the loop's merges made transitive."
        ]
    )


def main(argv: list[str] | None = None) -> int:
    from bench.results import write_json

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.child:
        logging.getLogger("etl").setLevel(logging.WARNING)
        logging.getLogger("faiss").setLevel(logging.WARNING)
        sys.stdout.write(json.dumps(child(json.loads(args.child))) + "\n")
        return 0
    with tempfile.TemporaryDirectory(prefix="facelake-bench-dedup-") as work:
        outcome = run_cases(args, Path(work))
    text = report(outcome, args)
    sys.stdout.write(text + "\n")
    if args.out:
        args.out.write_text(text + "\n")
        log.info("wrote %s", args.out)
    if args.json:
        write_json(
            args.json,
            {
                "bench": "dedup",
                "ok": not outcome.problems,
                "problems": outcome.problems,
                "params": {k: v for k, v in vars(args).items() if k not in ("child", "out", "json")},
                "rows": outcome.results,
                "notes": outcome.notes,
            },
        )
    for problem in outcome.problems:
        log.error("%s", problem)
    if outcome.problems:
        log.error("dedup benchmark FAILED: %d problem(s); the figures are not valid", len(outcome.problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
