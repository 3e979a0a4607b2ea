"""Input trees of the ingest benchmark (bench/ingest.py).

- the 640x480 case: `etl.synthetic.siw_tree.write_sample_tree` as it is (mp4v `.mov`, the
  real dataset's defects planted once each);
- the 1920x1080 case: SiW-named H.264 videos (libx264 through PyAV, 30 fps) rendered
  with the same generator (`etl.synthetic.videos.render_video`), faces about 300-410 px,
  without planted defects;
- the bench's copy of a tree: videos hard-linked, `.face` boxes moved by detector-like
  jitter, because a real `.face` comes from a detector, not from the generator's exact truth.

Generated trees are kept in the work folder and reused when their manifest matches
the requested sizes; nothing outside the work folder is written.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

import numpy as np

from etl.sources.decode import probe_video
from etl.synthetic.face_photos import FacePhoto, load_face_photos
from etl.synthetic.siw_tree import (
    MANIFEST_NAME,
    TYPE_IDS,
    SampleManifest,
    SampleVideo,
    true_landmarks,
    write_sample_tree,
)
from etl.synthetic.videos import render_video

log = logging.getLogger("bench.ingest")

HD_SIZE = (1920, 1080)
HD_FPS = 30
# crf 18: near-transparent, like a phone camera's high bitrate; `veryfast` only shortens
# the generation (the decoder's work depends on the bitstream's tools, which it keeps: CABAC, B-frames)
X264_OPTIONS = {"preset": "veryfast", "crf": "18"}
REPLAY_MEDIA, PRINT_MEDIA = 4, 2  # SiW's replay devices and print qualities
JITTER_CLIP = 3.0  # a jitter offset is clipped to this many sigmas: no wild outlier boxes


@dataclass(frozen=True)
class Tree:
    """A generated SiW tree: its root, frame size and how its videos are encoded."""

    root: Path
    frame_size: tuple[int, int]
    codec: str
    manifest: SampleManifest


# ------------------------------------------------------------------------ 640x480


def sample_tree_640(folder: Path, *, subjects: int, seconds: float, seed: int) -> Tree:
    """facelake's sample tree (subjects x 6 videos + 1), reused if already written with these sizes."""
    manifest = _manifest_in(folder)
    wanted = (subjects, float(seconds), seed, (640, 480))
    if manifest is None or (manifest.subjects, manifest.seconds, manifest.seed, tuple(manifest.frame_size)) != wanted:
        manifest = write_sample_tree(folder, subjects=subjects, seconds=seconds, seed=seed, frame_size=(640, 480))
    else:
        log.info("reusing the 640x480 sample tree in %s", folder)
    return Tree(folder, (640, 480), "MPEG-4 Part 2 (mp4v, the sample generator's codec)", manifest)


def _manifest_in(folder: Path) -> SampleManifest | None:
    path = folder / MANIFEST_NAME
    return SampleManifest.from_json(path.read_text()) if path.is_file() else None


# ---------------------------------------------------------------------- 1920x1080


@dataclass(frozen=True)
class HdPlan:
    """One 1080p video to render: its SiW name fields and the photo of its person."""

    index: int
    subject: int
    kind: str  # live | print | replay
    sensor: int
    medium: int

    @property
    def folder(self) -> str:
        split = "Train" if self.subject % 2 == 1 else "Test"  # SiW splits by subject
        return f"{split}/{'live' if self.kind == 'live' else 'spoof'}/{self.subject:03d}"

    @property
    def stem(self) -> str:
        return f"{self.subject:03d}-{self.sensor}-{TYPE_IDS[self.kind]}-{self.medium}-1"

    @property
    def photo_index(self) -> int:
        return (self.subject - 1) % 8  # the generator's 8 real face photos, one per subject


def plan_hd(videos: int, kinds: Sequence[str]) -> list[HdPlan]:
    """`videos` videos cycling through `kinds`; each subject has one video of each kind."""
    plans = []
    for index in range(videos):
        kind, subject = kinds[index % len(kinds)], 1 + index // len(kinds)
        medium = {"live": 1, "print": 1 + (subject - 1) % PRINT_MEDIA, "replay": 1 + (subject - 1) % REPLAY_MEDIA}[kind]
        plans.append(HdPlan(index=index, subject=subject, kind=kind, sensor=1 + (subject - 1) % 2, medium=medium))
    return plans


def sample_tree_1080(
    folder: Path, *, videos: int, frames: int, kinds: Sequence[str], seed: int, processes: int
) -> Tree:
    """The 1080p H.264 tree, rendered in `processes` processes; reused if it matches."""
    plans = plan_hd(videos, kinds)
    manifest = _manifest_in(folder)
    wanted = ([f"{p.folder}/{p.stem}.mov" for p in plans], frames, seed, HD_SIZE)
    if (
        manifest is not None
        and ([v.path for v in manifest.videos], manifest.videos[0].frames, manifest.seed, tuple(manifest.frame_size))
        == wanted
    ):
        log.info("reusing the 1920x1080 tree in %s", folder)
    else:
        _clear(folder)
        log.info("rendering %d videos of %d frames at 1920x1080 in %d processes", videos, frames, processes)
        rendered = []
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            for video in pool.imap(partial(write_hd_video, root=folder, frames=frames, seed=seed), plans):
                rendered.append(video)
                log.info("rendered %d/%d: %s", len(rendered), len(plans), video.path)
        subjects = len({p.subject for p in plans})
        manifest = SampleManifest(
            seed=seed, subjects=subjects, seconds=frames / HD_FPS, fps=HD_FPS, frame_size=HD_SIZE, videos=rendered
        )
        (folder / MANIFEST_NAME).write_text(manifest.to_json())
    return Tree(folder, HD_SIZE, f"H.264 (libx264, {X264_OPTIONS['preset']}, crf {X264_OPTIONS['crf']})", manifest)


def _clear(folder: Path) -> None:
    """Remove a previous 1080p tree; refuse a folder that holds anything else."""
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MANIFEST_NAME).is_file():
            raise ValueError(f"{folder} is not empty and holds no {MANIFEST_NAME}: not a tree this bench wrote")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)


def write_hd_video(plan: HdPlan, *, root: Path, frames: int, seed: int) -> SampleVideo:
    """Render, encode and check one 1080p video and write its exact `.face` (runs in a pool process)."""
    photo = _photos()[plan.photo_index]
    rng = np.random.default_rng([seed, plan.index])
    rendered = render_video(
        photo, kind=plan.kind, n_frames=frames, rng=rng, fps=HD_FPS, frame_size=HD_SIZE, medium=plan.medium
    )
    video, face = root / plan.folder / f"{plan.stem}.mov", root / plan.folder / f"{plan.stem}.face"
    video.parent.mkdir(parents=True, exist_ok=True)
    boxes, landmarks = encode_h264(video, rendered)
    face.write_text("".join(f"{' '.join(map(str, b)) if b else '0 0 0 0'}\n" for b in boxes), encoding="ascii")
    _check_readable(video, frames)
    return SampleVideo(
        path=video.relative_to(root).as_posix(),
        face_path=face.relative_to(root).as_posix(),
        subject=plan.subject,
        split="train" if plan.subject % 2 else "test",
        label="live" if plan.kind == "live" else "spoof",
        attack_type=plan.kind,
        sensor=plan.sensor,
        type_id=TYPE_IDS[plan.kind],
        medium=plan.medium,
        session=1,
        frames=frames,
        face_lines=len(boxes),
        photo=photo.name,
        true_boxes=boxes,
        true_landmarks=landmarks,
    )


@lru_cache(maxsize=1)
def _photos() -> list[FacePhoto]:
    return load_face_photos()


def encode_h264(path: Path, rendered: Iterator) -> tuple[list, list]:
    """Stream the rendered frames into an H.264 `.mov`; return each frame's face box and true landmarks."""
    import av  # the `bench` extra

    boxes, landmarks = [], []
    with av.open(str(path), "w", format="mov") as container:
        stream = container.add_stream("libx264", rate=HD_FPS, options=X264_OPTIONS)
        stream.width, stream.height, stream.pix_fmt = *HD_SIZE, "yuv420p"
        for frame in rendered:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame.image, format="rgb24")))
            boxes.append(list(frame.face_box) if frame.face_box else None)
            landmarks.append(true_landmarks(frame))
        container.mux(stream.encode())  # flush the encoder's delayed frames
    return boxes, landmarks


def _check_readable(path: Path, frames: int) -> None:
    """facelake's decoder (OpenCV) must see the stream as written."""
    info = probe_video(path)
    if (info.width, info.height, info.frames) != (*HD_SIZE, frames):
        raise RuntimeError(f"OpenCV reads {path.name} as {info}, expected {HD_SIZE} and {frames} frames")


# --------------------------------------------------------------- the bench's copy


@dataclass(frozen=True)
class JitterStats:
    boxes: int  # boxes moved (`0 0 0 0` and malformed lines are kept as they are)
    mean_iou: float  # of the moved box with the generator's box
    mean_shift: float  # mean |coordinate offset| as a share of the box's width or height


def jittered_copy(tree: Tree, out: Path, *, sigma: float, seed: int) -> JitterStats:
    """`out` := the tree's videos (hard links) and its `.face` files with every box moved
    by N(0, sigma x box width/height) per coordinate, clipped to JITTER_CLIP sigmas and to the frame."""
    if out.exists():
        shutil.rmtree(out)
    ious, shifts = [], []
    for video in tree.manifest.videos:
        for rel in (video.path, video.face_path):
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(tree.root / video.path, out / video.path)
        rng = np.random.default_rng([seed, zlib.crc32(video.face_path.encode())])
        lines = (tree.root / video.face_path).read_text(encoding="ascii").splitlines()
        moved = [jitter_line(line, rng, sigma=sigma, frame_size=tree.frame_size) for line in lines]
        (out / video.face_path).write_text("".join(line + "\n" for line, *_ in moved), encoding="ascii")
        for _, iou, shift in moved:
            if iou is not None:
                ious.append(iou)
                shifts.append(shift)
    return JitterStats(
        boxes=len(ious),
        mean_iou=float(np.mean(ious)) if ious else 1.0,
        mean_shift=float(np.mean(shifts)) if shifts else 0.0,
    )


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or no hard links there
        shutil.copy2(source, target)


def jitter_line(
    line: str, rng: np.random.Generator, *, sigma: float, frame_size: tuple[int, int]
) -> tuple[str, float | None, float | None]:
    """(moved line, IoU with the original, mean |offset| / box side); a `0 0 0 0` line or one
    that is not 4 integers (a planted defect) is returned as it is, with None."""
    parts = line.split(" ")
    if len(parts) != 4 or not all(p.isdigit() for p in parts) or not any(int(p) for p in parts):
        return line, None, None
    box = np.array([int(p) for p in parts], dtype=np.float64)
    sides = np.array([box[2] - box[0], box[3] - box[1]] * 2)
    offsets = np.clip(rng.normal(0.0, 1.0, 4), -JITTER_CLIP, JITTER_CLIP) * sigma * sides
    limits = np.array([frame_size[0] - 1, frame_size[1] - 1] * 2)
    moved = np.clip(np.round(box + offsets), 0, limits).astype(int)
    if moved[2] - moved[0] < 2 or moved[3] - moved[1] < 2:  # clipping collapsed it: keep the original
        return line, None, None
    shift = float(np.mean(np.abs(moved - box) / np.maximum(sides, 1.0)))
    return " ".join(map(str, moved)), _iou(box, moved.astype(np.float64)), shift


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
