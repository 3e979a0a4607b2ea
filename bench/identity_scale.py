"""Identity search at scale: label_checks and identity_pairs with an approximate index on
up to a million synthetic 512-d faces, on a small machine.

Data: N L2-normalised float32 faces (default 1,000,000, 512-d) of ~N / 10 identities
(5..15 faces each), each face normalise(person + sqrt(1/3) r): cosine ~0.75 within a
person, ~0 +- 0.045 between people. Generated in chunks straight into one (N, dim)
array in (identity, key) order, so the library sorts nothing and copies no vectors.
--mislabeled identities (default 20) have their face 0 replaced by a photo of another
identity's person: a misfiled photo. What the label check rule then flags: the misfiled
face (its own identity is a stranger), the other faces of the identity it was filed
under (their least similar own face is now a stranger) and some faces of its true
person (it is as close to them as their own faces are). identity_pairs at the notes'
0.7 (max linkage) links each (true person, identity filed under) pair.

Per method, in this process (the data is built once; peak RSS is reset before each
method where Linux allows it, so it is that method's peak, input included):
  * label_checks(faces, SearchConfig(index=...)) for --methods (default ivf; flat is the
    exact O(n^2) pass, only sensible up to ~100k faces here);
  * identity_pairs(faces, SearchConfig(threshold=0.7, index=...)) unless --no-pairs.
Then an exact reference, independent of the library, for a sample of faces: every
planted-related face (misfiled, its filed-under identity, its true person) and
--sample random faces, each searched against all N faces (blocked float32 GEMM with
the own identity masked, winner recomputed in float64). Reported: for those faces, how
often the approximate nearest other face is the exact one, whether the approximate
suspects equal the exact suspects, and whether max_negative ever exceeds the exact
value (it must not: a suspect can be missed, never invented).

Threads: --threads for FAISS and for numpy's BLAS (set before numpy loads).

    .venv/bin/python bench/identity_scale.py [--faces 1000000] [--dim 512] [--mislabeled 20]
        [--methods ivf[,hnsw,flat]] [--nprobe 16] [--nlist N] [--no-pairs] [--sample 1000]
        [--threads 2] [--out FILE.md] [--json FILE.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.process_memory import reset_peak_rss, status_mb  # noqa: E402  (imports no numpy)

log = logging.getLogger("bench.identity_scale")

THRESHOLD = 0.7  # the notes' threshold for their 512-d model
CHUNK = 65536  # faces generated / searched per block
SPREAD = math.sqrt(1 / 3)  # noise scale: within-person cosine 1 / (1 + SPREAD^2) = 0.75


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--faces", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--min-per", type=int, default=5, help="fewest faces per identity")
    p.add_argument("--max-per", type=int, default=15, help="most faces per identity")
    p.add_argument("--mislabeled", type=int, default=20, help="identities with a misfiled face 0")
    p.add_argument("--methods", default="ivf", help="label_checks indexes, comma-separated: flat, ivf, hnsw")
    p.add_argument("--nprobe", type=int, default=16)
    p.add_argument("--nlist", type=int, default=None, help="ivf lists (default: the library's 2 sqrt(n))")
    p.add_argument("--no-pairs", action="store_true", help="skip identity_pairs")
    p.add_argument("--sample", type=int, default=1000, help="random faces checked exactly (plus the planted ones)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=None, help="also write the table here (Markdown)")
    p.add_argument("--json", type=Path, default=None, help="every figure, as JSON")
    args = p.parse_args(argv)
    if not 1 <= args.min_per <= args.max_per or args.min_per < 2:
        p.error("need 2 <= --min-per <= --max-per")
    return args


def mib(field_name: str) -> float:
    """status_mb, as nan where /proc has no such line (the log lines format it as a number)."""
    value = status_mb(field_name)
    return math.nan if value is None else value


def measured(step):
    """(step(), {seconds, cpu_s, peak_mb, peak_reset}): wall and CPU time, and the peak RSS
    during the step where Linux lets the peak be reset first."""
    gc.collect()
    peak_reset = reset_peak_rss()
    t0, c0 = time.perf_counter(), time.process_time()
    result = step()
    figures = dict(
        seconds=time.perf_counter() - t0, cpu_s=time.process_time() - c0, peak_mb=mib("VmHWM"), peak_reset=peak_reset
    )
    return result, figures


def make_faces(args: argparse.Namespace):
    """(FaceVectors, planted) with planted = [(misfiled row, true identity code, filed code)]."""
    import numpy as np

    from etl.identity.search import FaceVectors

    rng = np.random.default_rng(args.seed)
    mean_per = (args.min_per + args.max_per) / 2
    sizes = rng.integers(args.min_per, args.max_per + 1, size=int(args.faces / mean_per) + 1)
    sizes = sizes[np.cumsum(sizes) <= args.faces]
    if sizes.sum() < args.faces:  # the last identity takes the rest (at least min_per faces)
        sizes = np.append(sizes, args.faces - sizes.sum())
        if sizes[-1] < args.min_per:
            sizes[-2] += sizes[-1]
            sizes = sizes[:-1]
    m, n = len(sizes), int(sizes.sum())
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    person_of = np.repeat(np.arange(m), sizes)
    pick = rng.choice(m, (args.mislabeled, 2), replace=False)  # (true person, identity filed under)
    person_of[starts[pick[:, 1]]] = pick[:, 0]
    persons = rng.standard_normal((m, args.dim), dtype=np.float32)
    persons /= np.linalg.norm(persons, axis=1, keepdims=True)
    x = np.empty((n, args.dim), dtype=np.float32)
    for i0 in range(0, n, CHUNK):
        i1 = min(i0 + CHUNK, n)
        block = rng.standard_normal((i1 - i0, args.dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        block *= SPREAD
        block += persons[person_of[i0:i1]]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        x[i0:i1] = block
    del persons
    width = len(str(m - 1))
    names = [f"id{c:0{width}d}" for c in range(m)]
    identities = [names[c] for c, size in enumerate(sizes.tolist()) for _ in range(size)]
    keys = [f"{names[c]}/{k:02d}" for c, size in enumerate(sizes.tolist()) for k in range(size)]
    planted = [(int(starts[b]), int(a), int(b)) for a, b in pick.tolist()]
    return FaceVectors(keys, identities, x), planted, starts


def exact_nearest_other(x, codes, rows):
    """Reference, independent of the library: per row, the most similar face of another
    identity over all faces (float32 blocked GEMM, own identity masked; ties: first row)
    and that similarity in float64."""
    import numpy as np

    best = np.full(len(rows), -np.inf, dtype=np.float32)
    best_idx = np.full(len(rows), -1, dtype=np.int64)
    q, qc = x[rows], codes[rows]
    for j0 in range(0, len(x), CHUNK // 4):
        s = q @ x[j0 : j0 + CHUNK // 4].T
        s[qc[:, None] == codes[j0 : j0 + CHUNK // 4][None, :]] = -np.inf
        arg = s.argmax(axis=1)
        val = s[np.arange(len(rows)), arg]
        better = val > best
        best[better], best_idx[better] = val[better], arg[better] + j0
    sims = np.einsum("ij,ij->i", q.astype(np.float64), x[best_idx].astype(np.float64))
    return best_idx, sims


def exact_min_positive(x, starts, codes, rows):
    import numpy as np

    out = np.empty(len(rows))
    for k, r in enumerate(rows.tolist()):
        c = int(codes[r])
        own = x[starts[c] : starts[c + 1]].astype(np.float64) @ x[r].astype(np.float64)
        own[r - starts[c]] = np.inf
        out[k] = own.min()
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy / FAISS load their thread pools
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    import numpy as np

    from etl.identity.search import SearchConfig, identity_pairs, label_checks

    methods = [s.strip() for s in args.methods.split(",") if s.strip()]
    started = time.perf_counter()
    faces, planted, starts = make_faces(args)
    n, dim = faces.vectors.shape
    codes = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    m = len(starts) - 1
    build_s = time.perf_counter() - started
    input_mb = faces.vectors.nbytes / 2**20
    log.info(
        "built %d faces of %d identities, %d-d, %d misfiled (%.1f s, RSS %.0f MiB, vectors %.0f MiB)",
        n,
        m,
        dim,
        len(planted),
        build_s,
        mib("VmRSS"),
        input_mb,
    )
    misfiled = {faces.keys[r] for r, _, _ in planted}
    true_pairs = {frozenset((faces.identities[starts[a]], faces.identities[starts[b]])) for _, a, b in planted}
    # faces checked exactly: every planted-related face, and a random sample
    related = np.concatenate([np.arange(starts[c], starts[c + 1]) for _, a, b in planted for c in (a, b)])
    role = {}  # planted-related row -> what it is, for the suspects an approximate search misses
    for r, a, b in planted:
        role.update({int(i): f"a face of {faces.keys[r]}'s true person" for i in range(starts[a], starts[a + 1])})
        role.update(
            {int(i): f"a face of the identity {faces.keys[r]} is filed under" for i in range(starts[b], starts[b + 1])}
        )
        role[r] = "a misfiled face"
    rng = np.random.default_rng(args.seed + 1)
    sample = np.unique(np.concatenate([related, rng.choice(n, min(args.sample, n), replace=False)]))

    results = {}
    for method in methods:
        config = SearchConfig(
            threshold=THRESHOLD, index=method, nprobe=args.nprobe, nlist=args.nlist, threads=args.threads
        )
        checks, figures = measured(lambda: label_checks(faces, config))
        suspects = {c.key for c in checks if c.face_suspect}  # the notes' rule, checked against the exact one
        verdict = {c.key for c in checks if c.suspect}  # the centroid verdict
        picked = [checks[i] for i in sample.tolist()]  # checks are in (identity, key) order = row order
        del checks
        gc.collect()
        results[f"label_checks/{method}"] = dict(
            method=f"label_checks {method}",
            faces=n,
            **figures,
            suspects=len(suspects),
            misfiled_flagged=len(misfiled & suspects),
            misfiled=len(misfiled),
            verdict_suspects=len(verdict),
            verdict_misfiled_flagged=len(misfiled & verdict),
            _picked=picked,
            _suspects=suspects,
        )
        log.info(
            "label_checks %s: %.1f s, peak %.0f MiB, %d suspects, %d of %d misfiled faces flagged",
            method,
            figures["seconds"],
            figures["peak_mb"],
            len(suspects),
            len(misfiled & suspects),
            len(misfiled),
        )

    if not args.no_pairs:
        for method in [x for x in methods if x != "flat"] or ["flat"]:
            config = SearchConfig(
                threshold=THRESHOLD, index=method, nprobe=args.nprobe, nlist=args.nlist, threads=args.threads
            )
            pairs, figures = measured(lambda: identity_pairs(faces, config))
            linked = {frozenset((p.first, p.second)) for p in pairs if p.linked}
            results[f"identity_pairs/{method}"] = dict(
                method=f"identity_pairs {method}",
                faces=n,
                **figures,
                linked=len(linked),
                planted_linked=len(linked & true_pairs),
                planted=len(true_pairs),
                extra_linked=len(linked - true_pairs),
                missed_pairs=sorted(sorted(p) for p in true_pairs - linked),
            )
            log.info(
                "identity_pairs %s: %.1f s, peak %.0f MiB, %d linked, %d of %d planted",
                method,
                figures["seconds"],
                figures["peak_mb"],
                len(linked),
                len(linked & true_pairs),
                len(true_pairs),
            )

    # exact reference for the sampled faces
    t0 = time.perf_counter()
    ref_idx, ref_neg = exact_nearest_other(faces.vectors, codes, sample)
    ref_pos = exact_min_positive(faces.vectors, starts, codes, sample)
    ref_suspect = ref_neg > ref_pos
    reference_s = time.perf_counter() - t0
    keys = faces.keys
    ref_suspects = {keys[r] for r, s in zip(sample.tolist(), ref_suspect.tolist()) if s}
    ordinary = np.isin(sample, related, invert=True)
    log.info(
        "exact reference for %d faces (%d planted-related): %.1f s; %d suspects, %d of them ordinary faces",
        len(sample),
        len(related),
        reference_s,
        len(ref_suspects),
        int((ref_suspect & ordinary).sum()),
    )
    for name, r in results.items():
        if not name.startswith("label_checks/"):
            continue
        picked = r.pop("_picked")
        suspects = r.pop("_suspects")
        same_nearest = np.array([c.nearest_other_key == keys[j] for c, j in zip(picked, ref_idx.tolist())])
        got_neg = np.array([c.max_negative for c in picked])
        got_pos = np.array([c.min_positive for c in picked])
        r.update(
            checked=len(sample),
            nearest_exact_all=float(same_nearest.mean()),
            nearest_exact_related=float(same_nearest[~ordinary].mean()),
            max_negative_over_exact=float(np.max(got_neg - ref_neg)),
            min_positive_max_error=float(np.max(np.abs(got_pos - ref_pos))),
            sample_suspects=len(suspects & {keys[i] for i in sample.tolist()}),
            sample_suspects_exact=len(ref_suspects),
            sample_suspects_equal=(suspects & {keys[i] for i in sample.tolist()}) == ref_suspects,
            missed=[
                (keys[i], role.get(i, "an ordinary face"))
                for i in sample.tolist()
                if keys[i] in ref_suspects - suspects
            ],
        )
        for key, what in r["missed"]:
            log.info("%s missed the suspect %s, %s", name, key, what)
    table = render(results, n, m, dim, args, build_s, input_mb, reference_s, len(sample), len(related))
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    if args.json:
        args.json.write_text(
            json.dumps(
                dict(
                    faces=n,
                    identities=m,
                    dim=dim,
                    threads=args.threads,
                    nprobe=args.nprobe,
                    nlist=args.nlist,
                    build_s=build_s,
                    input_mb=input_mb,
                    reference_s=reference_s,
                    results=results,
                ),
                indent=2,
            )
            + "\n"
        )
    ok = all(
        r.get("max_negative_over_exact", 0.0) <= 1e-6 and r.get("min_positive_max_error", 0.0) <= 1e-9
        for r in results.values()
    )
    log.info(
        "total %.1f s; overall peak RSS %.0f MiB%s",
        time.perf_counter() - started,
        mib("VmHWM"),
        "" if ok else "; CHECK FAILED: an approximate max_negative above the exact one",
    )
    return 0 if ok else 1


def render(
    results: dict,
    n: int,
    m: int,
    dim: int,
    args: argparse.Namespace,
    build_s: float,
    input_mb: float,
    reference_s: float,
    checked: int,
    related: int,
) -> str:
    lines = [
        f"{n:,} faces, {m:,} identities, {dim}-d, {args.mislabeled} misfiled; {args.threads} threads; "
        f"nprobe {args.nprobe}, nlist {args.nlist or 'auto (2 sqrt n)'}; vectors {input_mb:,.0f} MiB; "
        f"built in {build_s:.1f} s",
        "",
        "| method | faces | seconds | CPU s | us / face | peak RSS MiB | found | planted found | exact check |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results.values():
        us = 1e6 * r["seconds"] / r["faces"]
        peak = f"{r['peak_mb']:,.0f}" + ("" if r["peak_reset"] else " (process)")
        if r["method"].startswith("label_checks"):
            verdict = f"centroid verdict: {r['verdict_suspects']:,}, {r['verdict_misfiled_flagged']} misfiled"
            found = f"{r['suspects']:,} suspects (notes' rule); {verdict}"
            planted = f"{r['misfiled_flagged']} / {r['misfiled']} misfiled faces"
            check = (
                f"{checked:,} faces ({related} planted-related): suspects "
                f"{'=' if r['sample_suspects_equal'] else '!='} exact ({r['sample_suspects']} vs "
                f"{r['sample_suspects_exact']}); nearest = exact: {100 * r['nearest_exact_related']:.1f} % "
                f"planted-related, {100 * r['nearest_exact_all']:.1f} % all; max_negative - exact <= "
                f"{r['max_negative_over_exact']:.1e}"
            )
            owners: dict[str, int] = {}
            for _, what in r["missed"]:
                owners[what] = owners.get(what, 0) + 1
            check += "".join(f"; missed {count}: {what}" for what, count in owners.items())
        else:
            found = f"{r['linked']:,} linked pairs"
            planted = f"{r['planted_linked']} / {r['planted']} planted pairs"
            check = f"{r['extra_linked']} linked pairs not planted" + "".join(
                f"; missed {a} ~ {b}" for a, b in r["missed_pairs"]
            )
        lines.append(
            f"| {r['method']} | {r['faces']:,} | {r['seconds']:.1f} | {r['cpu_s']:.1f} | {us:.1f} | {peak} | "
            f"{found} | "
            f"{planted} | {check} |"
        )
    lines.append("")
    lines.append(
        f"seconds: wall clock; CPU s: this process's CPU time ({args.threads} threads: up to "
        f"{args.threads}x wall on idle cores, less when other jobs share them)"
    )
    lines.append(f"exact reference (bench's own numpy, {checked:,} faces x {n:,}): {reference_s:.1f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
