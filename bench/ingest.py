"""Ingest benchmark: facelake vs the notes' workflow, side by side on the same sample.

(a) baseline: what the original notes did: serial, full-frame MTCNN on every frame
    (stock `mtcnn` 1.0 detect_faces with the notes' stage thresholds; its default
    min_face_size, because min_face_size=40 finds nothing in mtcnn 1.0), best face kept
    at score >= 0.8, aligned with norm_crop, one PNG per aligned face and one PNG per
    original `.face` crop in a folder tree;
(b) facelake ingest with 1 and with 2 workers (each a fresh process and lake, with
    `--crops png` so it stores the same two images per frame as the baseline);
(c) decode only, same decoder (OpenCV), no detection.
Prints frames/s, ratios, frames with a face, bytes and file counts on disk.

    .venv/bin/python bench/ingest.py [--subjects 8] [--seconds 6] [--work DIR]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

log = logging.getLogger("bench.ingest")


def disk_usage(root: Path) -> tuple[int, int]:
    """(bytes, files) under root."""
    total, files = 0, 0
    for directory, _, names in os.walk(root):
        for name in names:
            total += (Path(directory) / name).stat().st_size
            files += 1
    return total, files


def run_decode_only(source: Path) -> dict:
    from etl.decode import iter_frames
    from etl.scan import scan_source

    videos = [v for v in scan_source(source).videos if v.processable]
    started = time.perf_counter()
    frames = 0
    for video in videos:
        try:
            frames += sum(1 for _ in iter_frames(video.abs_path))
        except Exception:  # noqa: BLE001 - the corrupt sample video
            continue
    return {"name": "decode only", "frames": frames, "seconds": time.perf_counter() - started, "faces": None}


def run_baseline(source: Path, out: Path) -> dict:
    """The notes' loop: per frame, crop the .face box to a PNG, full-frame MTCNN, align, PNG."""
    import cv2
    from mtcnn import MTCNN

    from etl.align import align_face
    from etl.decode import iter_frames
    from etl.scan import scan_source

    detector = MTCNN()
    videos = [v for v in scan_source(source).videos if v.processable]
    started = time.perf_counter()
    frames = faces = 0
    found: set[tuple[str, int]] = set()
    for video in videos:
        stem = video.video_id
        original_dir, detect_dir = out / "orign_frame" / stem, out / "detect_frame" / stem
        original_dir.mkdir(parents=True, exist_ok=True)
        detect_dir.mkdir(parents=True, exist_ok=True)
        try:
            for index, frame in iter_frames(video.abs_path):
                frames += 1
                box = video.annotations.box_for_frame(index)[0] if video.annotations else None
                if box:
                    crop = frame[max(0, box[1]) : box[3], max(0, box[0]) : box[2]]
                    if crop.size:
                        cv2.imwrite(str(original_dir / f"{index}.png"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
                detections = detector.detect_faces(frame, threshold_pnet=0.6, threshold_rnet=0.7, threshold_onet=0.7)
                best = max(detections, key=lambda f: f["confidence"]) if detections else None
                if best and best["confidence"] >= 0.8:
                    kp = best["keypoints"]
                    points = [kp["left_eye"], kp["right_eye"], kp["nose"], kp["mouth_left"], kp["mouth_right"]]
                    aligned = align_face(frame, points)
                    cv2.imwrite(str(detect_dir / f"{index}.png"), cv2.cvtColor(aligned, cv2.COLOR_RGB2BGR))
                    faces += 1
                    found.add((video.video_id, index))
        except Exception:  # noqa: BLE001 - the corrupt sample video, as the notes' loop would skip it
            continue
    seconds = time.perf_counter() - started
    size, files = disk_usage(out)
    return {"name": "baseline (notes)", "frames": frames, "seconds": seconds, "faces": faces, "bytes": size, "files": files,
            "found": found}


def run_facelake(source: Path, lake: Path, workers: int) -> dict:
    """facelake ingest in a fresh process (its own local Ray), timed end to end."""
    command = [sys.executable, "-m", "jobs.ingest", "--source", str(source), "--lake", str(lake),
               "--workers", str(workers), "--crops", "png", "--no-progress"]
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    from etl.lake import Lake
    from schemas import FRAMES, RUNS

    table = Lake(str(lake)).read(FRAMES, columns=["video_id", "frame_index", "det_status"])
    found = {(r["video_id"], r["frame_index"]) for r in table.to_pylist() if r["det_status"] == "ok"}
    runs = Lake(str(lake)).read(RUNS).to_pylist()
    counts = json.loads(runs[0]["counts_json"])
    size, files = disk_usage(lake)
    return {"name": f"facelake, {workers} worker{'s' if workers > 1 else ''}", "frames": table.num_rows, "seconds": seconds,
            "job_seconds": counts["elapsed_s"], "faces": table.column("det_status").to_pylist().count("ok"),
            "bytes": size, "files": files, "found": found}


def _brief(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "found"}


def report(rows: list[dict]) -> str:
    base = next(r for r in rows if r["name"].startswith("baseline"))
    one = next(r for r in rows if r["name"] == "facelake, 1 worker")
    lines = ["| run | frames | seconds | frames/s | × baseline | frames with a face | bytes on disk | files |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fps = r["frames"] / r["seconds"]
        ratio = fps / (base["frames"] / base["seconds"])
        faces = "" if r["faces"] is None else f"{r['faces']} ({r['faces'] / base['faces']:.1%} of baseline)"
        size = f"{r['bytes'] / 1e6:.1f} MB" if "bytes" in r else ""
        lines.append(f"| {r['name']} | {r['frames']} | {r['seconds']:.1f} | {fps:.1f} | {ratio:.2f} | {faces} | {size} | {r.get('files', '')} |")
    two = next(r for r in rows if r["name"] == "facelake, 2 workers")
    lines += [
        "",
        f"- 2 workers vs 1 worker: {(two['frames'] / two['seconds']) / (one['frames'] / one['seconds']):.2f}×",
        f"- facelake (2 workers) vs baseline: {(two['frames'] / two['seconds']) / (base['frames'] / base['seconds']):.2f}×",
        f"- lake bytes / baseline bytes: {two['bytes'] / base['bytes']:.2f}; lake files / baseline files: 1/{base['files'] / two['files']:.0f}",
        f"- faces found by facelake (2 workers) / by baseline: {two['faces'] / base['faces']:.1%}; of the frames the baseline "
        f"found a face in, facelake found one in {len(base['found'] & two['found']) / len(base['found']):.2%}",
        f"- seconds are end to end, including Ray start-up and model loading "
        f"(the job itself, from its own summary: 1 worker {one['job_seconds']:.1f} s, 2 workers {two['job_seconds']:.1f} s)",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # large enough that Ray's and TensorFlow's fixed start-up (~8 s) does not hide the scaling
    parser.add_argument("--subjects", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    work = args.work or Path(tempfile.mkdtemp(prefix="facelake-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    from etl.sample_tree import write_sample_tree

    from etl.sample_tree import MANIFEST_NAME, SampleManifest

    source = work / "siw"
    previous = source / MANIFEST_NAME
    manifest = SampleManifest.from_json(previous.read_text()) if previous.is_file() else None
    if manifest is None or (manifest.subjects, manifest.seconds, manifest.seed) != (args.subjects, args.seconds, args.seed):
        manifest = write_sample_tree(source, subjects=args.subjects, seconds=args.seconds, seed=args.seed)
    log.info("sample: %d videos in %s", len(manifest.videos), source)
    rows = []
    for workers in (1, 2):
        lake = work / f"lake-{workers}"
        shutil.rmtree(lake, ignore_errors=True)
        rows.append(run_facelake(source, lake, workers))
        log.info("%s", _brief(rows[-1]))
    rows.append(run_decode_only(source))
    log.info("%s", _brief(rows[-1]))
    shutil.rmtree(work / "baseline", ignore_errors=True)
    rows.insert(0, run_baseline(source, work / "baseline"))
    log.info("%s", _brief(rows[0]))
    sys.stdout.write(report(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
