"""Dedup benchmark: the notes' identity-merge loop vs facelake identity_pairs + merge_groups.

Data (seeded): random unit "person" vectors; each identity's faces are
normalise(person + s r), r a random unit vector, s = sqrt(1/3) so two faces of one
person have cosine ~0.75. Planted duplicates: --duplicates of the identities reuse
another identity's person vector (other noise draws), under a name far away in sort
order. Rows are in (identity, face) order; identities in name order.

Per size, each in its own subprocess (so peak RSS, from getrusage, is its own):
  * baseline: the notes' loop, verbatim semantics (dict popitem / pairwise np.dot max >
    0.7 / vstack merge when both are still present). Above --baseline-max-pairs identity
    pairs it is timed on the first P identities (P(P-1)/2 <= the limit) and its time is
    extrapolated by pair count;
  * reference (only then): the loop's rule at full size, exact: blocked float32 GEMM for
    the identity pairs above 0.7, then the loop's pop order and "both still present"
    test replayed on them. It is the merge set facelake must match at that size;
  * facelake: identity_pairs(max linkage, threshold 0.7, --index) + merge_groups.
Merge sets are compared as sets of frozensets of member names; the loop's groups are
its merges (each merge target absorbs the other identity). Seconds cover the search
and merge only, not building the data. The table is logged and written to --out.

    .venv/bin/python bench/dedup.py [--sizes 2000,10000,50000] [--faces 5] [--dim 512]
        [--duplicates 1%] [--index flat,ivf] [--baseline-max-pairs N] [--no-reference] [--out FILE.md]
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

log = logging.getLogger("bench.dedup")

THRESHOLD = 0.7  # the notes' OUT_THREASH
NOISE = math.sqrt(1.0 / 3.0)  # 1 / (1 + s^2) = 0.75 within-person cosine
# ~3 minutes of the loop at the 3.0 us per identity pair measured on this machine
DEFAULT_BASELINE_MAX_PAIRS = 60_000_000
CHUNK_IDENTITIES = 4096


# --- data ------------------------------------------------------------------------------------

@dataclass
class Dataset:
    names: list[str]  # sorted
    starts: np.ndarray  # identity i owns rows starts[i]:starts[i + 1]
    x: np.ndarray  # (n, dim) float32, unit rows
    planted: set[frozenset[str]]


def parse_duplicates(text: str, identities: int) -> int:
    count = round(identities * float(text[:-1]) / 100) if text.endswith("%") else int(text)
    if not 0 <= count <= identities // 2:
        raise ValueError(f"--duplicates must leave each duplicate an original: got {text} of {identities}")
    return count


def make_dataset(identities: int, faces: int, dim: int, duplicates: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    originals = identities - duplicates
    persons = rng.standard_normal((originals, dim), dtype=np.float32)
    persons /= np.linalg.norm(persons, axis=1, keepdims=True)
    person_of = np.concatenate([np.arange(originals), rng.choice(originals, duplicates, replace=False)])
    width = len(str(identities))
    label = rng.permutation(identities)  # identity i is called user<label[i]>
    by_name = np.argsort(label)
    names = [f"user{label[i]:0{width}d}" for i in by_name]
    planted = {frozenset({f"user{label[i]:0{width}d}", f"user{label[person_of[i]]:0{width}d}"})
               for i in range(originals, identities)}
    x = np.empty((identities * faces, dim), dtype=np.float32)
    for c0 in range(0, identities, CHUNK_IDENTITIES):  # float32 chunks: no float64 copy of the data
        chunk = by_name[c0:c0 + CHUNK_IDENTITIES]
        noise = rng.standard_normal((len(chunk) * faces, dim), dtype=np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        rows = np.repeat(persons[person_of[chunk]], faces, axis=0) + np.float32(NOISE) * noise
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        x[c0 * faces:(c0 + len(chunk)) * faces] = rows
    return Dataset(names, np.arange(identities + 1) * faces, x, planted)


def groups_from_merges(merges: list[tuple[str, str]]) -> set[frozenset[str]]:
    """The loop's merges (target, absorbed) as groups; a target is never absorbed later."""
    groups: dict[str, set[str]] = {}
    for target, absorbed in merges:
        groups.setdefault(target, {target}).add(absorbed)
    return {frozenset(g) for g in groups.values()}


# --- the three methods (run inside a child process) ---------------------------------------

def notes_loop(dd: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """The notes' loop, verbatim semantics (its print is a debug log line here)."""
    OUT_THREASH = THRESHOLD  # noqa: N806 - the notes' name
    merges = []
    tt = dd.copy()
    while len(tt) > 0:
        kk, vv = tt.popitem()
        for ikk, ivv in tt.items():
            imax = np.dot(vv, ivv.T).max()
            if imax > OUT_THREASH:
                log.debug("First: %s, Second: %s, Max dist: %.4f", kk, ikk, imax)
                if kk in dd and ikk in dd:
                    dd[kk] = np.vstack([dd[kk], dd[ikk]])
                    dd.pop(ikk)
                    merges.append((kk, ikk))
    return merges


def loop_rule_merges(data: Dataset, limit: int | None = None) -> list[tuple[int, int]]:
    """The loop's merges over the first `limit` identities, computed exactly without the loop.

    The loop pops identities from last to first; each is compared with every earlier one
    still in the copy, and absorbs it when max face similarity > 0.7 and both are still
    present. Only the above-threshold pairs matter, so they are found with blocked GEMM
    (upper triangle) and the pop order is replayed on them.
    """
    m = len(data.names) if limit is None else limit
    n = int(data.starts[m])
    codes = np.repeat(np.arange(m), np.diff(data.starts[:m + 1]))
    x = data.x[:n]
    found = []
    for i0 in range(0, n, 2048):
        for j0 in range(i0, n, 8192):
            s = x[i0:i0 + 2048] @ x[j0:j0 + 8192].T
            flat = np.flatnonzero(s > THRESHOLD)
            r, c = np.divmod(flat, s.shape[1])
            ci, cj = codes[r + i0], codes[c + j0]
            keep = ci != cj
            found.append(np.unique(np.minimum(ci[keep], cj[keep]) * m + np.maximum(ci[keep], cj[keep])))
    packed = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
    earlier: dict[int, list[int]] = {}
    for lo, hi in zip((packed // m).tolist(), (packed % m).tolist()):
        earlier.setdefault(hi, []).append(lo)  # ascending lo: the order tt.items() meets them
    present = np.ones(m, dtype=bool)
    merges = []
    for kk in range(m - 1, -1, -1):
        for ikk in earlier.get(kk, []):
            if present[kk] and present[ikk]:
                present[ikk] = False
                merges.append((kk, ikk))
    return merges


def status_mb(field: str) -> float | None:
    """VmRSS / VmHWM of this process from /proc, in MiB (None where /proc has no such line)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Restart the peak-RSS count (Linux >= 4.0: writing 5 to clear_refs resets VmHWM), so the
    peak covers the method and not the data building. False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def child(task: dict) -> dict:
    data = make_dataset(task["identities"], task["faces"], task["dim"], task["duplicates"], task["seed"])
    result: dict = {"planted": sorted(sorted(g) for g in data.planted), "data_mb": data.x.nbytes / 2**20}
    m = len(data.names)
    peak_reset = False

    def start() -> float:
        """Peak RSS counts from here (what is resident now, inputs included, stays counted)."""
        nonlocal peak_reset
        peak_reset = reset_peak_rss()
        result["start_rss_mb"] = status_mb("VmRSS")
        return time.perf_counter()

    if task["method"] == "baseline":
        prefix = min(m, (1 + math.isqrt(1 + 8 * task["max_pairs"])) // 2)  # largest P with P(P-1)/2 <= max
        dd = {name: data.x[data.starts[i]:data.starts[i + 1]] for i, name in enumerate(data.names[:prefix])}
        started = start()
        merges = notes_loop(dd)
        seconds = time.perf_counter() - started
        timed, total = prefix * (prefix - 1) // 2, m * (m - 1) // 2
        result.update(seconds=seconds * total / max(timed, 1), timed_seconds=seconds, prefix=prefix,
                      prefix_names=data.names[:prefix],
                      groups=sorted(sorted(g) for g in groups_from_merges(merges)))
    elif task["method"] == "reference":
        started = start()
        merges = loop_rule_merges(data)
        result["seconds"] = time.perf_counter() - started
        result["groups"] = sorted(sorted(g) for g in groups_from_merges(
            [(data.names[a], data.names[b]) for a, b in merges]))
        prefix_merges = loop_rule_merges(data, task["prefix"])
        result["prefix_groups"] = sorted(sorted(g) for g in groups_from_merges(
            [(data.names[a], data.names[b]) for a, b in prefix_merges]))
    else:
        from etl.identity_search import FaceVectors, SearchConfig, identity_pairs, merge_groups

        ids = [name for name in data.names for _ in range(task["faces"])]
        keys = [f"{name}/{k}" for name in data.names for k in range(task["faces"])]
        faces = FaceVectors(keys, ids, data.x)
        if task["index"] != "flat":
            import faiss  # noqa: F401 - loaded once per process; not part of the timing

        started = start()
        pairs = identity_pairs(faces, SearchConfig(threshold=THRESHOLD, index=task["index"]))
        mapping = merge_groups(pairs, faces.face_counts())
        result["seconds"] = time.perf_counter() - started
        groups: dict[str, list[str]] = {}
        for name, canonical in mapping.items():
            groups.setdefault(canonical, []).append(name)
        result["groups"] = sorted(sorted(g) for g in groups.values())
    hwm = status_mb("VmHWM") if peak_reset else None
    # without the reset, ru_maxrss (KiB on Linux) also counts building the data
    result["peak_rss_mb"] = hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["peak_covers_data_building"] = hwm is None
    return result


def run_child(task: dict) -> dict:
    log.info("running %s", task)
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(task)], cwd=REPO, check=True,
                         stdout=subprocess.PIPE, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    log.info("-> %.2f s, peak RSS %.0f MB, %d groups", result["seconds"], result["peak_rss_mb"], len(result["groups"]))
    return result


# --- report ----------------------------------------------------------------------------------

def as_groups(rows: list[list[str]]) -> set[frozenset[str]]:
    return {frozenset(g) for g in rows}


def compare(got: set[frozenset[str]], want: set[frozenset[str]]) -> str:
    if got == want:
        return "yes"
    return f"NO ({len(want - got)} missing, {len(got - want)} extra)"


def bench_size(identities: int, args: argparse.Namespace) -> tuple[list[str], list[str]]:
    duplicates = parse_duplicates(args.duplicates, identities)
    base = dict(identities=identities, faces=args.faces, dim=args.dim, duplicates=duplicates, seed=args.seed)
    baseline = run_child({**base, "method": "baseline", "max_pairs": args.baseline_max_pairs})
    planted = as_groups(baseline["planted"])
    total_pairs = identities * (identities - 1) // 2
    extrapolated = baseline["prefix"] < identities
    rows, notes = [], []
    timed_pairs = baseline["prefix"] * (baseline["prefix"] - 1) // 2
    prefix_names = set(baseline["prefix_names"])
    prefix_planted = {g for g in planted if g <= prefix_names}
    label = f"{identities} ({identities * args.faces} faces)"

    def row(method: str, result: dict, same: str, groups: str = "") -> None:
        ratio = baseline["seconds"] / result["seconds"]
        rows.append(f"| {label} | {args.faces} | {method} | {result['seconds']:.2f} | {ratio:.1f} | "
                    f"{result['peak_rss_mb']:.0f} (start {result['start_rss_mb'] or 0:.0f}) | "
                    f"{groups or len(result['groups'])} | {same} |")

    if extrapolated and args.no_reference:
        want = planted
        row(f"notes' loop, extrapolated from the first {baseline['prefix']} identities "
            f"({baseline['timed_seconds']:.1f} s for {timed_pairs:,} of {total_pairs:,} pairs)", baseline,
            f"{compare(as_groups(baseline['groups']), prefix_planted)} (on the prefix, vs planted)",
            groups=f"{len(baseline['groups'])} (prefix)")
        notes.append(f"{identities} identities: the loop is too slow to run whole and --no-reference skipped the "
                     "exact replay of its rule: facelake is checked against the planted groups only.")
    elif extrapolated:
        reference = run_child({**base, "method": "reference", "prefix": baseline["prefix"]})
        want = as_groups(reference["groups"])
        prefix_ok = compare(as_groups(baseline["groups"]), as_groups(reference["prefix_groups"]))
        row(f"notes' loop, extrapolated from the first {baseline['prefix']} identities "
            f"({baseline['timed_seconds']:.1f} s for {timed_pairs:,} of {total_pairs:,} pairs)", baseline,
            f"{prefix_ok} (on the prefix, vs the loop rule)", groups=f"{len(baseline['groups'])} (prefix)")
        row("loop rule, exact blocked numpy (reference merge set)", reference,
            f"{compare(want, planted)} (vs planted)")
        notes.append(f"{identities} identities: the loop is too slow to run whole; facelake is checked against "
                     f"the exact blocked-numpy replay of the loop's rule, and the loop's merges on the "
                     f"{baseline['prefix']}-identity prefix against that replay on the same prefix.")
    else:
        want = as_groups(baseline["groups"])
        row("notes' loop (baseline)", baseline, f"{compare(want, planted)} (vs planted)")
    for index in args.index:
        result = run_child({**base, "method": "facelake", "index": index})
        same = compare(as_groups(result["groups"]), want)
        planted_ok = compare(as_groups(result["groups"]), planted)
        row(f"facelake identity_pairs + merge_groups, index={index}", result,
            f"{same}" + ("" if planted_ok == "yes" else f"; vs planted: {planted_ok}"))
    notes.append(f"{identities} identities: {len(planted)} planted duplicate pairs; input "
                 f"{baseline['data_mb']:.1f} MB of float32 vectors. Peak RSS is the child's peak from the "
                 "start of the timed run (what was resident then, shown as start, included).")
    if baseline["peak_covers_data_building"]:
        notes.append("peak RSS could not be reset after building the data (no /proc/self/clear_refs): "
                     "it includes building the data")
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2000,10000,50000", help="identity counts, comma-separated")
    parser.add_argument("--faces", type=int, default=5, help="faces per identity")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--duplicates", default="1%", help="planted duplicate identities: N or P%% of each size")
    parser.add_argument("--index", default="flat,ivf", help="facelake indexes to run: flat, ivf, hnsw")
    parser.add_argument("--baseline-max-pairs", type=int, default=DEFAULT_BASELINE_MAX_PAIRS,
                        help="above this many identity pairs the loop runs on a prefix and is extrapolated")
    parser.add_argument("--no-reference", action="store_true",
                        help="where the loop is extrapolated, skip the exact replay of its rule at full size "
                             "(about as long as index=flat); merge sets are then checked against the planted groups")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown report here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.child:
        logging.getLogger("etl").setLevel(logging.WARNING)
        logging.getLogger("faiss").setLevel(logging.WARNING)
        sys.stdout.write(json.dumps(child(json.loads(args.child))) + "\n")
        return 0
    args.index = [i.strip() for i in args.index.split(",") if i.strip()]
    unknown = [i for i in args.index if i not in ("flat", "ivf", "hnsw")]
    if unknown:
        parser.error(f"--index {unknown} not one of: flat, ivf, hnsw")
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = ["| identities | faces | method | seconds | × baseline | peak RSS MB | merge groups | same merge set |",
            "|---|---|---|---|---|---|---|---|"]
    notes = []
    for size in sizes:
        size_rows, size_notes = bench_size(size, args)
        rows += size_rows
        notes += size_notes
    report = "\n".join(rows + [""] + [f"- {n}" for n in notes] + [
        f"- threshold {THRESHOLD}, max linkage, min_pairs 1; dim {args.dim}; seed {args.seed}; "
        "seconds exclude building the data and loading FAISS; each row ran in its own process."])
    log.info("report:\n%s", report)
    if args.out:
        args.out.write_text(report + "\n")
        log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
