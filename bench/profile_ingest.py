"""Per-stage profile of ingesting one video: milliseconds per frame for every stage, single process.

What is timed is ingest's own per-video code, not a copy of it: `etl.ingest.video.process_video`
runs as the Ray task runs it (`etl.ingest.run._process_remote`: the cached detector, the job's
default `IngestConfig` and `DetectorConfig` but for `--cascade-every`, chunks of
`DetectorConfig.batch_size` frames), then `VideoResult.written_to` writes the Parquet files and
`etl.ingest.store.commit_videos` commits every `IngestConfig.commit_every` videos to a fresh local
lake, as the driver does. Only the time is taken: for the instrumented pass the functions that
`etl.ingest.video`, `etl.faces.track`, `etl.faces.onet_refine` and `etl.faces.locate` call are
wrapped in timers (restored afterwards; nothing under etl/ changes):

  decode            `probe_video` and every frame `FrameReader` yields (OpenCV read + BGR->RGB)
  region resample   `etl.faces.locate.resample_region`: the `.face` box grown and resampled to 160x160
  detect ...        per pass (region, full frame), per MTCNN stage: the stage methods of the
                    detector's cascade (etl/faces/mtcnn_cascade.py: PNet pyramid, RNet, ONet; with
                    --tensorflow-nets the `mtcnn` package's stage objects) are wrapped, and so is
                    each stage's net (`net ms/frame`: the forward passes only; the rest of a stage
                    is the pyramid, patch extraction, NMS and box arithmetic); `MTCNN
                    batching/post` is the detector call minus its stages (image stacking and
                    normalisation, boxes clipped to the image, our `Face` rows)
  full-frame resize `cv2.resize` of frames searched whole (no face in the region)
  locate other      the cascade (`locate_faces`, as `etl.faces.track` calls it) minus all of the
                    above (transforms, choosing the best face)
  ONet alone ...    frames between the cascade's guard frames (`--cascade-every` N > 1), found by
                    `OnetRefiner.refine` (etl/faces/onet_refine.py): its region crop/resample
                    (`resample_region` as that module calls it), its 48x48 patch (`onet_patch`),
                    the net (`OnnxONet.__call__`, onnxruntime), and `box arithmetic`: `refine`
                    minus those three
  tracking other    `VideoFaceLocator.locate` minus the cascade calls it makes and minus `refine`
                    (choosing guard frames and candidates, accepting or rejecting ONet's face)
  align, sharpness, photometry, encode (aligned PNG; the `.face` crop when `--crops`), Arrow
                    (`_FrameRows.table`), Parquet write (`written_to`), Delta commit (`commit_videos`)
  other             the instrumented run's total minus every stage (row buffers, memory guard, loop)

The instrumented pass decodes in line; ingest decodes a chunk ahead in a thread
(etl/ingest/read_ahead.py), which would make the stages overlap. The untimed pass keeps it, so a
negative gap between it and the stages' sum is what decoding ahead gains.

The same frames then go through the same code again without any timer (end to end, fresh
lake): its frames/s stands beside the sum of the stages, so that a stage the profile misses
shows as a gap. The detector is warmed up first (a whole video, a full-frame batch, and, when
ONet alone runs, one ONet call on onnxruntime; all untimed).

Cases: `640x480`, facelake's sample tree (`etl.synthetic.write_sample_tree`, mp4v), and
`1920x1080`, SiW's format (H.264 `.mov`, faces about 300-410 px) from bench/ingest_samples.py;
both with the `.face` boxes jittered as bench/ingest.py does. Trees are kept in `--work` and reused.

`--cascade-every N` (default: `DetectorConfig().cascade_every`) picks the path: MTCNN's full cascade
on every N-th frame of a video and on frames ONet alone does not accept, ONet alone on the others
(etl/faces/track.py); 1 runs the full cascade on every frame (the ONet-alone stages are then 0).
Each case's header line counts the frames through the cascade's region pass, the frames searched
whole, and the frames ONet alone tried and accepted (`det_source` onet_track or onet_face_box).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.ingest_samples import Tree, jittered_copy, sample_tree_640, sample_tree_1080  # noqa: E402
from etl.config import DetectorConfig, IngestConfig  # noqa: E402
from etl.sources.siw_tree import VideoSource, scan_source  # noqa: E402

log = logging.getLogger("bench.profile_ingest")

CASES = ("640x480", "1920x1080")
FPS = 30  # both generators write 30 fps

# (key, label) in the order ingest runs them; `net` column for the detector stages
STAGES: tuple[tuple[str, str], ...] = (
    ("decode", "decode (probe, read, BGR->RGB)"),
    ("region", "region crop/resample (.face -> 160x160)"),
    ("roi_pnet", "detect region: PNet pyramid"),
    ("roi_rnet", "detect region: RNet"),
    ("roi_onet", "detect region: ONet"),
    ("roi_mtcnn", "detect region: MTCNN batching/post"),
    ("full_resize", "full-frame resize (no face in region)"),
    ("full_pnet", "detect full frame: PNet pyramid"),
    ("full_rnet", "detect full frame: RNet"),
    ("full_onet", "detect full frame: ONet"),
    ("full_mtcnn", "detect full frame: MTCNN batching/post"),
    ("locate_other", "locate other (transforms, best face)"),
    ("onet_region", "ONet alone: region crop/resample"),
    ("onet_patch", "ONet alone: 48x48 patch"),
    ("onet_net", "ONet alone: net (onnxruntime)"),
    ("onet_other", "ONet alone: box arithmetic"),
    ("track_other", "tracking other (candidates, checks)"),
    ("align", "align (norm_crop 112x112)"),
    ("sharpness", "sharpness (lapvar + Android count)"),
    ("photometry", "photometry (face + background)"),
    ("encode_aligned", "encode aligned PNG"),
    ("encode_crop", "encode .face crop (--crops)"),
    ("arrow", "Arrow table"),
    ("parquet", "Parquet write (worker)"),
    ("commit", "Delta commit (driver)"),
    ("other", "other (unattributed)"),
)
LABELS = dict(STAGES)
MTCNN_STAGES = ("pnet", "rnet", "onet")
PASSES = ("roi", "full")


# ------------------------------------------------------------------------ timing


@dataclass
class Clock:
    """Seconds and calls per key; the detector pass now running (`roi` or `full`)."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    current_pass: str = "roi"

    def add(self, key: str, seconds: float) -> None:
        self.seconds[key] += seconds
        self.calls[key] += 1

    def timed(self, key: str, function):
        """`function` with each call's time added to `key`."""

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(key, time.perf_counter() - started)

        wrapper.__wrapped__ = function
        return wrapper


class TimedDetector:
    """The detector ingest builds, with each call's time added to its pass (by the images' shape:
    region batches are `roi_size` squares, full-frame batches have the frame's aspect)."""

    def __init__(self, detector, clock: Clock, roi_size: int) -> None:
        self._detector, self._clock, self._roi_size = detector, clock, roi_size
        self.name, self.version = detector.name, detector.version

    def __call__(self, images, *, min_face_size):
        shape = images[0].shape[:2] if images else (self._roi_size, self._roi_size)
        self._clock.current_pass = "roi" if tuple(shape) == (self._roi_size, self._roi_size) else "full"
        self._clock.calls[f"images_{self._clock.current_pass}"] += len(images)
        started = time.perf_counter()
        try:
            return self._detector(images, min_face_size=min_face_size)
        finally:
            self._clock.add(f"detector_{self._clock.current_pass}", time.perf_counter() - started)


class _TimedStage:
    """One MTCNN stage (the package's stage object, or a stage method of facelake's cascade) with its time taken."""

    def __init__(self, stage, name: str, clock: Clock) -> None:
        self._stage, self._name, self._clock = stage, name, clock

    def __getattr__(self, attribute):
        return getattr(self._stage, attribute)

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self._stage(*args, **kwargs)
        finally:
            self._clock.add(f"{self._clock.current_pass}_{self._name}", time.perf_counter() - started)


class _TimedNet:
    def __init__(self, net, name: str, clock: Clock) -> None:
        self._net, self._name, self._clock = net, name, clock

    def __getattr__(self, attribute):
        return getattr(self._net, attribute)

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self._net(*args, **kwargs)
        finally:
            self._clock.add(f"{self._clock.current_pass}_{self._name}_net", time.perf_counter() - started)


class _Cv2WithTimedResize:
    """`cv2` as `etl.faces.locate` sees it, with `resize` (only the full-frame pass uses it) timed."""

    def __init__(self, cv2, clock: Clock) -> None:
        self._cv2 = cv2
        self.resize = clock.timed("full_resize", cv2.resize)

    def __getattr__(self, attribute):
        return getattr(self._cv2, attribute)


@contextlib.contextmanager
def _replaced(target, name: str, make, missing: list[str]):
    """`target.name` set to `make(original)` for the block (if `target` has that name; else noted in `missing`)."""
    if not hasattr(target, name):
        missing.append(f"{getattr(target, '__name__', target)}.{name}")
        yield
        return
    original = getattr(target, name)
    setattr(target, name, make(original))
    try:
        yield
    finally:
        setattr(target, name, original)


@contextlib.contextmanager
def instrumented(detector, clock: Clock, missing: list[str]):
    """Timers around what `etl.ingest.video`, `etl.faces.track`, `etl.faces.onet_refine` and `etl.faces.locate`
    call, and inside the MTCNN pipeline."""
    import etl.faces.locate as locate_module
    import etl.faces.mtcnn_onnx as onnx_module
    import etl.faces.onet_refine as refine_module
    import etl.faces.track as track_module
    import etl.ingest.video as video_module

    class TimedFrameReader(video_module.FrameReader):
        def __iter__(self):
            frames = super().__iter__()
            while True:
                started = time.perf_counter()
                try:
                    item = next(frames)
                except StopIteration:
                    clock.seconds["decode"] += time.perf_counter() - started
                    return
                clock.add("decode", time.perf_counter() - started)
                yield item

    def timed(key):
        return lambda original: clock.timed(key, original)

    aligned_ids: set[int] = set()

    def align_wrapper(original):
        def align(*args, **kwargs):
            started = time.perf_counter()
            face = original(*args, **kwargs)
            clock.add("align", time.perf_counter() - started)
            aligned_ids.add(id(face))
            return face

        return align

    def encode_wrapper(original):
        def encode(image, *args, **kwargs):
            key = "encode_aligned" if id(image) in aligned_ids else "encode_crop"
            aligned_ids.discard(id(image))
            started = time.perf_counter()
            try:
                return original(image, *args, **kwargs)
            finally:
                clock.add(key, time.perf_counter() - started)

        return encode

    replacements = [
        (video_module, "FrameReader", lambda _: TimedFrameReader),
        # decoding ahead in a thread would overlap the stages, which then no longer add up to the run: the timed
        # pass decodes in line; the untimed pass keeps it, so its gap to the stages' sum is what the overlap gains
        (video_module, "read_ahead", lambda _: lambda items, ahead: iter(items)),
        (video_module, "probe_video", timed("decode")),
        (video_module, "align_face", align_wrapper),
        (video_module, "encode_image", encode_wrapper),
        (video_module, "laplacian_variance", timed("sharpness")),
        (video_module, "android_sharpness_count", timed("sharpness")),
        (video_module, "face_photometry", timed("photometry")),
        (video_module, "background_photometry", timed("photometry")),
        (video_module._FrameRows, "table", timed("arrow")),
        (locate_module, "resample_region", timed("region")),
        (locate_module, "cv2", lambda cv2: _Cv2WithTimedResize(cv2, clock)),
        # the locator: the cascade (as it calls it), ONet alone, and its own total
        (track_module, "locate_faces", timed("locate")),
        (track_module.VideoFaceLocator, "locate", timed("track")),
        (refine_module.OnetRefiner, "refine", timed("onet_refine")),
        (refine_module, "resample_region", timed("onet_region")),
        (refine_module, "onet_patch", timed("onet_patch")),
        (onnx_module.OnnxONet, "__call__", timed("onet_net")),
    ]
    cascade = getattr(detector, "_cascade", None)
    pipeline = getattr(getattr(cascade, "_mtcnn", None), "_stages", None)  # the package's own (--tensorflow-nets)
    with contextlib.ExitStack() as stack:
        for target, name, value in replacements:
            stack.enter_context(_replaced(target, name, value, missing))
        if pipeline is not None:
            originals = list(pipeline)
            for index, stage in enumerate(originals):
                name = MTCNN_STAGES[index] if index < len(MTCNN_STAGES) else f"stage{index}"
                stack.enter_context(_replaced(stage, "_model", lambda net, n=name: _TimedNet(net, n, clock), missing))
                pipeline[index] = _TimedStage(stage, name, clock)
            stack.callback(pipeline.__setitem__, slice(None), originals)
        elif cascade is not None:  # facelake's cascade (etl/faces/mtcnn_cascade.py): stage `_pnet` runs net `pnet`
            for name in MTCNN_STAGES:
                stack.enter_context(_replaced(cascade, name, lambda net, n=name: _TimedNet(net, n, clock), missing))
                stack.enter_context(
                    _replaced(cascade, f"_{name}", lambda stage, n=name: _TimedStage(stage, n, clock), missing)
                )
        else:
            missing.append(f"{type(detector).__name__}._cascade (no per-stage split)")
        yield


# ------------------------------------------------------------------------ runs


@dataclass
class Pass:
    frames: int
    seconds: float
    clock: Clock | None = None
    ok_faces: int = 0
    onet_faces: int = 0  # frames whose face ONet alone found (det_source onet_*)


def ingest_videos(videos: list[VideoSource], config: IngestConfig, detector, lake_root: Path, *, clock=None) -> Pass:
    """What one worker and the driver do for these videos: process, write, commit every `commit_every`."""
    from etl.ingest.store import commit_videos
    from etl.ingest.video import process_video
    from etl.lake.lake import Lake
    from schemas import FRAMES, VIDEOS
    from schemas.vocabulary import DetStatus

    shutil.rmtree(lake_root, ignore_errors=True)
    lake = Lake.open(str(lake_root), create=True)
    for spec in (VIDEOS, FRAMES):
        lake.ensure(spec)
    run_id = "profile"
    frames = ok = onet = 0
    pending_rows, pending_frames, pending_staged = [], [], []
    started = time.perf_counter()
    for number, video in enumerate(videos, 1):
        result = process_video(video, config, detector, run_id=run_id)
        frames += result.n_frames
        ok += sum(1 for s in result.frames.column("det_status").to_pylist() if s == DetStatus.OK)
        onet += sum(1 for s in result.frames.column("det_source").to_pylist() if s and s.startswith("onet_"))
        mark = time.perf_counter()
        result = result.written_to(lake)
        if clock is not None:
            clock.add("parquet", time.perf_counter() - mark)
        if result.staged is None:
            pending_frames.append(result.frames)
        else:
            pending_staged.extend(result.staged)
        pending_rows.append(result.video)
        if len(pending_rows) >= config.commit_every or number == len(videos):
            mark = time.perf_counter()
            commit_videos(lake, videos=pending_rows, frames=pending_frames, staged=pending_staged)
            if clock is not None:
                clock.add("commit", time.perf_counter() - mark)
            pending_rows, pending_frames, pending_staged = [], [], []
    return Pass(frames=frames, seconds=time.perf_counter() - started, clock=clock, ok_faces=ok, onet_faces=onet)


def warm_up(videos: list[VideoSource], config: IngestConfig, detector, work: Path) -> None:
    """One whole video through ingest (untimed), a full-frame detector batch (frames with no region), and,
    when ingest runs ONet alone, one ONet call (its onnxruntime session made and run once, as ingest's)."""
    from etl.faces.locate import locate_faces
    from etl.faces.onet_refine import cached_refiner
    from etl.sources.decode import iter_frames

    started = time.perf_counter()
    ingest_videos(videos[:1], config, detector, work / "lake-warm-up")
    frames = [frame for _, frame in zip(range(2), (f for _, f in iter_frames(videos[0].abs_path)))]
    located = locate_faces(frames, [None] * len(frames), detector, config.detector)
    if config.detector.onet_tracking and detector.name == "mtcnn":  # as etl.ingest.video decides
        height, width = frames[0].shape[:2]
        face = located[0].face if located[0] is not None else None  # any box warms it; a face's is typical
        box = face.box if face is not None else (width / 4, height / 4, width * 3 / 4, height * 3 / 4)
        settings = config.detector
        cached_refiner(settings.threads).refine(frames[0], box, box, margin=settings.roi_margin, size=settings.roi_size)
    for video in videos:  # the files in the page cache for every pass alike
        video.abs_path.read_bytes()
    log.info("warm-up: %.1f s", time.perf_counter() - started)


# ------------------------------------------------------------------------ figures


def stage_seconds(clock: Clock, total: float) -> dict[str, float]:
    """Seconds per stage key of `STAGES` from an instrumented pass that took `total` seconds."""
    s = clock.seconds
    out = {key: 0.0 for key, _ in STAGES}
    for key in ("decode", "region", "full_resize", "align", "sharpness", "photometry"):
        out[key] = s.get(key, 0.0)
    for key in ("encode_aligned", "encode_crop", "arrow", "parquet", "commit"):
        out[key] = s.get(key, 0.0)
    for prefix in PASSES:
        staged = 0.0
        for name in MTCNN_STAGES:
            out[f"{prefix}_{name}"] = s.get(f"{prefix}_{name}", 0.0)
            staged += out[f"{prefix}_{name}"]
        out[f"{prefix}_mtcnn"] = max(0.0, s.get(f"detector_{prefix}", 0.0) - staged)
    inside_locate = out["region"] + out["full_resize"] + s.get("detector_roi", 0.0) + s.get("detector_full", 0.0)
    out["locate_other"] = max(0.0, s.get("locate", 0.0) - inside_locate)
    for key in ("onet_region", "onet_patch", "onet_net"):
        out[key] = s.get(key, 0.0)
    inside_refine = out["onet_region"] + out["onet_patch"] + out["onet_net"]
    out["onet_other"] = max(0.0, s.get("onet_refine", 0.0) - inside_refine)
    out["track_other"] = max(0.0, s.get("track", 0.0) - s.get("locate", 0.0) - s.get("onet_refine", 0.0))
    out["other"] = max(0.0, total - sum(v for k, v in out.items() if k != "other"))
    return out


def case_figures(
    name: str, tree: Tree, videos: list[VideoSource], timed: list[Pass], plain: list[Pass], config: IngestConfig
) -> dict:
    frames = sum(p.frames for p in timed)
    total = sum(p.seconds for p in timed)
    seconds = defaultdict(float)
    nets = defaultdict(float)
    for p in timed:
        for key, value in stage_seconds(p.clock, p.seconds).items():
            seconds[key] += value
        for prefix in PASSES:
            for stage in MTCNN_STAGES:
                nets[f"{prefix}_{stage}"] += p.clock.seconds.get(f"{prefix}_{stage}_net", 0.0)
    calls = defaultdict(int)
    for p in timed:
        for key, value in p.clock.calls.items():
            calls[key] += value
    ms = 1000.0 / frames
    stages = [
        {
            "stage": key,
            "label": label,
            "ms_per_frame": seconds[key] * ms,
            "share": seconds[key] / total if total else 0.0,
            **({"net_ms_per_frame": nets[key] * ms} if key in nets else {}),
        }
        for key, label in STAGES
    ]
    measured = sum(s["ms_per_frame"] for s in stages if s["stage"] != "other")
    plain_frames, plain_seconds = sum(p.frames for p in plain), sum(p.seconds for p in plain)
    end_to_end = plain_seconds * 1000.0 / plain_frames
    repeats = len(timed)
    return {
        "case": name,
        "frame_size": list(tree.frame_size),
        "codec": tree.codec,
        "videos": [v.rel_path for v in videos],
        "cascade_every": config.detector.cascade_every,
        "onet_tracking": config.detector.onet_tracking,
        "frames": frames // repeats,
        "repeats": repeats,
        "frames_region_pass": calls["images_roi"] // repeats,
        "frames_full_frame_pass": calls["images_full"] // repeats,
        "frames_onet_tried": calls["onet_refine"] // repeats,
        "frames_onet_accepted": sum(p.onet_faces for p in timed) // repeats,
        "ok_faces": sum(p.ok_faces for p in timed) // repeats,
        "stages": stages,
        "stages_ms_per_frame": measured,
        "stages_frames_per_s": 1000.0 / measured if measured else None,
        "instrumented_ms_per_frame": total * ms,
        "end_to_end_ms_per_frame": end_to_end,
        "end_to_end_frames_per_s": 1000.0 / end_to_end,
        "gap_ms_per_frame": end_to_end - measured,
        "gap_share": (end_to_end - measured) / end_to_end,
        "instrumented_frames_per_s_by_repeat": [p.frames / p.seconds for p in timed],
        "end_to_end_frames_per_s_by_repeat": [p.frames / p.seconds for p in plain],
    }


def case_table(case: dict) -> str:
    width = 42
    every = case["cascade_every"]
    path = (
        f"cascade every {every} frames, ONet alone between" if case["onet_tracking"] else "full cascade on every frame"
    )
    lines = [
        f"{case['case']} ({case['codec']}): {len(case['videos'])} videos, {case['frames']} frames"
        f" x {case['repeats']} repeat(s); {path}",
        f"{case['frames_region_pass']} frames through the cascade's region pass,"
        f" {case['frames_full_frame_pass']} searched whole, {case['frames_onet_tried']} tried by ONet alone"
        f" ({case['frames_onet_accepted']} accepted); {case['ok_faces']} ok faces",
        f"{'stage':<{width}} {'ms/frame':>9} {'share':>7} {'net ms/frame':>13}",
    ]
    for stage in case["stages"]:
        net = f"{stage['net_ms_per_frame']:13.2f}" if "net_ms_per_frame" in stage else ""
        lines.append(f"{stage['label']:<{width}} {stage['ms_per_frame']:9.2f} {stage['share']:7.1%} {net}".rstrip())
    lines += [
        f"{'instrumented run, total':<{width}} {case['instrumented_ms_per_frame']:9.2f} {1.0:7.1%}",
        "",
        f"sum of stages (without other): {case['stages_ms_per_frame']:.2f} ms/frame ="
        f" {case['stages_frames_per_s']:.1f} frames/s implied",
        f"end to end, no timers (process_video + write + commit, 1 process): {case['end_to_end_ms_per_frame']:.2f}"
        f" ms/frame = {case['end_to_end_frames_per_s']:.1f} frames/s;"
        f" gap {case['gap_ms_per_frame']:+.2f} ms/frame ({case['gap_share']:+.1%})",
        "frames/s by repeat: instrumented "
        + ", ".join(f"{v:.1f}" for v in case["instrumented_frames_per_s_by_repeat"])
        + "; end to end "
        + ", ".join(f"{v:.1f}" for v in case["end_to_end_frames_per_s_by_repeat"]),
        "videos: " + ", ".join(case["videos"]),
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------ cases


def _tier(video) -> int:
    """0 a clean video, 1 one with a planted `.face` defect, 2 the sample's truncated file (no frame decodes)."""
    defects = getattr(video, "defects", None) or []
    return 2 if any(d.startswith("truncated") for d in defects) else 1 if defects else 0


def pick_videos(tree: Tree, source: Path, count: int) -> list[VideoSource]:
    """`count` processable videos: the clean ones first, cycling through the kinds (live, print, replay) in
    manifest order; videos with a planted defect only when the clean ones run out, the truncated one last."""
    scanned = {v.rel_path: v for v in scan_source(str(source)).videos if v.processable}
    picked: list[str] = []
    for tier in (0, 1, 2):
        by_kind: dict[str, list[str]] = defaultdict(list)
        for video in tree.manifest.videos:
            if video.path in scanned and _tier(video) == tier:
                by_kind[video.attack_type].append(video.path)
        while len(picked) < count and any(by_kind.values()):
            for kind in list(by_kind):
                if by_kind[kind] and len(picked) < count:
                    picked.append(by_kind[kind].pop(0))
    if len(picked) < count:
        raise ValueError(f"the tree in {source} has {len(picked)} processable videos, fewer than --videos {count}")
    return [scanned[p] for p in picked]


def build_tree(name: str, work: Path, args: argparse.Namespace) -> Tree:
    if name == "640x480":
        subjects = max(1, math.ceil(args.videos / 6))
        return sample_tree_640(work / "truth", subjects=subjects, seconds=args.frames / FPS, seed=args.seed)
    return sample_tree_1080(
        work / "truth",
        videos=args.videos,
        frames=args.frames,
        kinds=args.hd_kinds,
        seed=args.seed,
        processes=os.cpu_count() or 1,
    )


def profile_case(name: str, work: Path, args: argparse.Namespace, config: IngestConfig, detector) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    tree = build_tree(name, work, args)
    source = work / "siw"
    jitter = jittered_copy(tree, source, sigma=args.jitter, seed=args.seed)
    log.info("%s: .face boxes jittered (sigma %.3f, mean IoU %.3f)", name, args.jitter, jitter.mean_iou)
    videos = pick_videos(tree, source, args.videos)
    warm_up(videos, config, detector, work)
    timed, plain = [], []
    for repeat in range(args.repeats):
        # the two passes take turns going first, so that neither always runs on a cooler (or busier) machine
        for kind in ("timed", "plain") if repeat % 2 == 0 else ("plain", "timed"):
            if kind == "plain":
                plain.append(ingest_videos(videos, config, detector, work / "lake-plain"))
                continue
            clock, missing = Clock(), []
            with instrumented(detector, clock, missing):
                timed_detector = TimedDetector(detector, clock, config.detector.roi_size)
                timed.append(ingest_videos(videos, config, timed_detector, work / "lake-timed", clock=clock))
            if missing and repeat == 0:
                log.warning("not found, so not timed (their time lands in 'other'): %s", ", ".join(missing))
        log.info(
            "%s repeat %d/%d: instrumented %.1f frames/s, end to end %.1f frames/s",
            name,
            repeat + 1,
            args.repeats,
            timed[-1].frames / timed[-1].seconds,
            plain[-1].frames / plain[-1].seconds,
        )
    return case_figures(name, tree, videos, timed, plain, config)


# ------------------------------------------------------------------------ main


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=_HelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES), help="cases to run, comma-separated")
    parser.add_argument("--videos", type=int, default=3, help="videos per case (kinds taken in turn)")
    parser.add_argument("--frames", type=int, default=90, help="frames per video (at 30 fps)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="passes of each kind over the same videos (averaged; turns alternate)"
    )
    parser.add_argument("--hd-kinds", default="live,replay", help="1920x1080: kinds of the videos (as bench/ingest.py)")
    parser.add_argument("--crops", default=IngestConfig().crops, help="ingest's --crops: none | jpeg | png")
    parser.add_argument(
        "--cascade-every",
        type=int,
        default=DetectorConfig().cascade_every,
        help="MTCNN's full cascade on every N-th frame of a video (and where ONet alone is unsure), ONet alone"
        " between; 1: the full cascade on every frame",
    )
    parser.add_argument(
        "--tensorflow-nets",
        action="store_true",
        help="MTCNN's nets on TensorFlow (the mtcnn package's Keras models), as ingest ran them before issue 20;"
        " with --cascade-every 1, ingest as it was",
    )
    parser.add_argument("--jitter", type=float, default=0.03, help=".face jitter: sigma as a share of the box side")
    parser.add_argument("--seed", type=int, default=0, help="seed of the trees and the jitter")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "facelake-profile",
        help="working folder; generated trees are kept here and reused",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    args.cases = args.cases.split(",")
    args.hd_kinds = args.hd_kinds.split(",")
    kinds = ("live", "print", "replay")
    unknown = [c for c in args.cases if c not in CASES] + [k for k in args.hd_kinds if k not in kinds]
    if unknown:
        parser.error(f"unknown case or kind {unknown}; cases: {', '.join(CASES)}; kinds: live, print, replay")
    if args.videos < 1 or args.repeats < 1:
        parser.error(f"--videos and --repeats must be >= 1, got {args.videos} and {args.repeats}")
    if args.cascade_every < 1:
        parser.error(f"--cascade-every must be >= 1, got {args.cascade_every}")
    if args.frames < 10:
        parser.error(f"--frames must be >= 10 (the sample generator's minimum), got {args.frames}")
    if not 0.0 <= args.jitter <= 0.2:
        parser.error(f"--jitter must be in [0, 0.2] (a share of the box side), got {args.jitter}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import cv2

    from etl.faces.detect import MtcnnDetector, cached_detector

    config = IngestConfig(crops=args.crops, detector=DetectorConfig(cascade_every=args.cascade_every))
    started = time.perf_counter()
    if args.tensorflow_nets:
        detector = MtcnnDetector(config.detector, tensorflow_nets=True)
    else:
        detector = cached_detector(config.detector)  # as the task body gets it
    log.info("detector %s %s loaded in %.1f s", detector.name, detector.version, time.perf_counter() - started)
    machine = {
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "opencv_threads": cv2.getNumThreads(),
        "detector_threads": config.detector.threads,
    }
    settings = {
        "detector": config.detector.backend,
        "detector_version": detector.version,
        "batch_size": config.detector.batch_size,
        "roi_size": config.detector.roi_size,
        "cascade_every": config.detector.cascade_every,
        "onet_tracking": config.detector.onet_tracking,
        "nets": "tensorflow" if args.tensorflow_nets else "onnxruntime",
        "crops": config.crops,
        "commit_every": config.commit_every,
    }
    results = [profile_case(name, args.work / name, args, config, detector) for name in args.cases]
    header = (
        f"ingest profile, 1 process (no Ray): {machine['cpus']} CPUs, load {machine['load_average_at_start']:.2f}"
        f" at start; detector {settings['detector']} {settings['detector_version']}, batch {settings['batch_size']},"
        f" TF threads {machine['detector_threads']}, OpenCV threads {machine['opencv_threads']}, crops {config.crops};"
        f" cascade every {config.detector.cascade_every} frame(s); MTCNN nets on {settings['nets']}"
    )
    sys.stdout.write(header + "\n\n" + "\n\n".join(case_table(case) for case in results) + "\n")
    if args.json:
        from bench.results import write_json

        params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        write_json(
            args.json,
            {"bench": "profile_ingest", "machine": machine, "settings": settings, "params": params, "cases": results},
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
