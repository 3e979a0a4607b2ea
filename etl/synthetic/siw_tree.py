"""Write a small synthetic SiW-layout tree (videos + `.face` files) with the real defects.

`write_sample_tree` renders, per subject, 2 live, 2 print and 2 replay videos of a
real face photo (see `etl.synthetic.face_photos`, `etl.synthetic.videos`) into

    {Train,Test}/{live,spoof}/SSS/SSS-sensor-type-medium-session.mov
    {Train,Test}/{live,spoof}/SSS/SSS-sensor-type-medium-session.face

plus one extra live video in which the face leaves the frame, and plants each of
the real dataset's known defects exactly once, each in a different video:

1. a `.face` line with a missing number shown as a double space (live, Train);
2. a `0 0 0 0` line while the face is visible (live);
3. a `.face` 5 lines shorter than the video (spoof);
4. a `*.m.mov` name in Test, its `.face` named with the plain stem;
5. the extra live video whose face leaves the frame (Train);
6. a video truncated to 40 % of its bytes (no index: it does not open).

`sample_manifest.json` at the root describes every file, its ground-truth boxes and
its defects. Output is byte-identical for the same arguments: all randomness comes
from `numpy.random.default_rng([seed, video_index])` (and, for the capture conditions,
`numpy.random.default_rng([seed, subject, 1])`).

No shortcuts (the default): attacks and live faces must differ only in the presentation,
so nothing that is not liveness tells them apart (`queries/shortcuts.sql` checks it). Every
video is filmed under a `Capture` (room, framing, camera; the face's tone matched to the
photo's whatever the medium): per subject and per capture value, the two live videos take the
two ends of a range (one in its lowest 30 %, the other in its highest 30 %, which one drawn per
value) and every attack a point 30-70 % of the way between them. The live videos' medium and
session codes likewise span the subject's attack codes (medium 1 and the highest replay medium,
sessions 1 and 3). With so few videos per subject, an attack outside its live faces' range
would be a perfect separator on its own; inside it, no single value separates them.

`shortcuts=True` writes the sample as it was before (each kind with its own camera and
framing, live medium 1): its print attacks are far sharper than its live faces and its
attacks encode at a higher bitrate, which the shortcut audit flags.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from etl.errors import UsageError
from etl.sources.siw_names import ATTACK_TYPES
from etl.synthetic.face_photos import FacePhoto, load_face_photos, photo_variant
from etl.synthetic.videos import CAPTURE_RANGES, RenderedFrame, capture_at, render_video
from schemas.vocabulary import Label

log = logging.getLogger(f"facelake.{__name__}")

MANIFEST_NAME = "sample_manifest.json"
MANIFEST_FORMAT = "facelake-siw-sample/1"
TYPE_IDS = {attack_type: type_id for type_id, attack_type in ATTACK_TYPES.items()}  # live 1, print 2, replay 3
TRUNCATE_SHARE = 0.4  # a truncated video keeps this share of its bytes
SHORT_FACE_DROP = 5  # lines dropped from the end of the short `.face`
MIN_FRAMES = 10  # every defect needs a few frames to land on
MAX_SUBJECTS = 999  # SSS is three digits


def _label(attack_type: str) -> Label:
    """The SiW label of an attack type: the live type is the live label, every attack is spoof."""
    return Label.LIVE if attack_type == Label.LIVE else Label.SPOOF


@dataclass
class SampleVideo:
    """One video of the sample tree and what was planted in it.

    `path` and `face_path` are POSIX paths relative to the tree root. `true_boxes`
    holds the ground-truth face box per frame written ([x1, y1, x2, y2], or None
    when the face is out of view), before any `.face` defect was applied; `true_landmarks`
    the photo's 5 landmarks carried into each frame by the same transform ([[x, y] x 5] in frame
    pixels, 0.01 px; None where the face is out of view).

    `defects` strings: `face_missing_number:line=K` and `face_zero_box:line=K`
    (K = 1-based line of the `.face`), `face_short:lines=N` (lines left),
    `m_mov_name`, `face_leaves_frame:from_frame=K` (K = 0-based index of the first
    frame without a face, i.e. `.face` line K+1) and `truncated`.
    """

    path: str
    face_path: str
    subject: int
    split: str  # train | test
    label: str  # live | spoof
    attack_type: str  # live | print | replay
    sensor: int
    type_id: int
    medium: int
    session: int
    frames: int
    face_lines: int
    photo: str
    same_person_as: list[int] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    true_boxes: list[list[int] | None] = field(default_factory=list)
    true_landmarks: list[list[list[float]] | None] = field(default_factory=list)


@dataclass
class SampleManifest:
    """Everything `write_sample_tree` wrote, with the arguments that produced it."""

    seed: int
    subjects: int
    seconds: float
    fps: int
    frame_size: tuple[int, int]
    videos: list[SampleVideo]
    format: str = MANIFEST_FORMAT

    def to_json(self) -> str:
        """Deterministic JSON: the header fields one per line, then one line per video."""
        data = asdict(self)
        data["frame_size"] = list(self.frame_size)
        videos = data.pop("videos")
        head = {"format": data.pop("format"), **data}
        lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
        lines.append('  "videos": [')
        lines += [f"    {json.dumps(v)}{',' if i < len(videos) - 1 else ''}" for i, v in enumerate(videos)]
        lines += ["  ]", "}"]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SampleManifest:
        data = json.loads(text)
        if data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"not a sample manifest: format is {data.get('format')!r}, expected {MANIFEST_FORMAT!r}")
        videos = [SampleVideo(**v) for v in data.pop("videos")]
        data["frame_size"] = tuple(data["frame_size"])
        return cls(videos=videos, **data)

    def by_defect(self, prefix: str) -> list[SampleVideo]:
        """Videos carrying a defect whose string starts with `prefix` (e.g. 'truncated')."""
        return [v for v in self.videos if any(d.startswith(prefix) for d in v.defects)]


@dataclass
class _Plan:
    """What one video will be, decided before anything is rendered."""

    index: int
    subject: int
    split: str
    kind: str
    sensor: int
    medium: int
    session: int
    photo_index: int
    variant: int
    leave_frame: bool = False
    m_mov: bool = False
    truncate: bool = False
    missing_number_line: int | None = None  # 1-based
    zero_box_line: int | None = None  # 1-based
    short_face: bool = False
    capture: dict[str, float] | None = None  # position in CAPTURE_RANGES (share of each range); None: the kind's own

    @property
    def stem(self) -> str:
        return f"{self.subject:03d}-{self.sensor}-{TYPE_IDS[self.kind]}-{self.medium}-{self.session}"

    @property
    def folder(self) -> str:
        label = _label(self.kind)
        return f"{'Train' if self.split == 'train' else 'Test'}/{label}/{self.subject:03d}"

    @property
    def video_rel(self) -> str:
        return f"{self.folder}/{self.stem}{'.m' if self.m_mov else ''}.mov"

    @property
    def face_rel(self) -> str:
        # In SiW the `.face` beside an `X.m.mov` is named `X.face`.
        return f"{self.folder}/{self.stem}.face"


def _validate(*, out_dir: Path, subjects: int, seconds: float, seed: int, fps: int, frame_size: tuple[int, int]) -> int:
    """Check the arguments; return the number of frames per video."""
    if isinstance(subjects, bool) or not isinstance(subjects, int) or not 1 <= subjects <= MAX_SUBJECTS:
        raise UsageError(f"subjects must be an integer in 1..{MAX_SUBJECTS}, got {subjects!r}")
    if isinstance(fps, bool) or not isinstance(fps, int) or fps < 1:
        raise UsageError(f"fps must be an integer >= 1, got {fps!r}")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"seconds must be a finite number > 0, got {seconds!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"seed must be an integer >= 0, got {seed!r}")
    if (
        not isinstance(frame_size, (tuple, list))
        or len(frame_size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in frame_size)
        or not (160 <= frame_size[0] <= 3840 and 120 <= frame_size[1] <= 2160)
        or frame_size[0] % 2
        or frame_size[1] % 2
    ):
        raise UsageError(
            f"frame_size must be (width, height), even integers in 160..3840 x 120..2160, got {frame_size!r}"
        )
    n_frames = int(round(seconds * fps))
    if n_frames < MIN_FRAMES:
        raise UsageError(
            f"seconds * fps must give at least {MIN_FRAMES} frames per video, got seconds={seconds!r}, fps={fps!r}"
            f" ({n_frames} frames)"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"out_dir must be a directory, got a file: {out_dir}")
    return n_frames


def _clear_previous(out_dir: Path) -> None:
    """Make `out_dir` ready: empty, or holding a previous sample tree that is removed.

    Only files listed in the previous manifest, the manifest and the folders left
    empty are removed; an out_dir with anything else in it is refused.
    """
    if not out_dir.exists() or not any(out_dir.iterdir()):
        return
    manifest_path = out_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise UsageError(f"out_dir must be empty or hold a previous {MANIFEST_NAME}, got a non-empty {out_dir}")
    try:
        previous = SampleManifest.from_json(manifest_path.read_text())
    except (ValueError, TypeError, KeyError) as exc:
        raise UsageError(f"out_dir {out_dir} holds a {MANIFEST_NAME} that is not a sample manifest: {exc}") from exc
    root = out_dir.resolve()
    for video in previous.videos:
        for rel in (video.path, video.face_path):
            target = (out_dir / rel).resolve()
            if root not in target.parents:  # never follow a manifest outside out_dir
                raise UsageError(f"{MANIFEST_NAME} in {out_dir} lists a path outside it: {rel!r}")
            target.unlink(missing_ok=True)
    manifest_path.unlink()
    for split in ("Train", "Test"):
        # Remove folders left empty, deepest first; keep anything we did not write.
        split_dir = out_dir / split
        if split_dir.is_dir():
            folders = sorted((p for p in split_dir.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
            for folder in [*folders, split_dir]:
                if not any(folder.iterdir()):
                    folder.rmdir()
    log.info("removed previous sample tree (%d videos) from %s", len(previous.videos), out_dir)


# The ends of these capture values go together (True: the high end, False: the low one, for the live
# video filmed in the harder conditions; the other live video takes the opposite ends), so that the
# measures that mix them span the attacks' too: the detector's score (a small, low-contrast, dim,
# blurred face is harder to see), the sharpness (blur lowers it, noise raises it) and the bitrate
# (noise and grain raise it).
HARDER = {
    "face_share": False,
    "face_contrast": False,
    "exposure": False,
    "blur_sigma": True,
    "noise_sigma": False,
    "grain": False,
}


def _captures(seed: int, subject: int) -> list[dict[str, float]]:
    """The capture positions of a subject's 6 videos (live, live, then 4 attacks): per value, the
    live videos at the two ends of a range (which one drawn), the attacks 30-70 % between them."""
    rng = np.random.default_rng([seed, subject, 1])
    lives: list[dict[str, float]] = [{}, {}]
    attacks: list[dict[str, float]] = [{} for _ in range(4)]
    hard = int(rng.integers(2))  # the live video filmed in the harder conditions
    for key in CAPTURE_RANGES:
        low, high = rng.uniform(0.0, 0.3), rng.uniform(0.7, 1.0)
        if key in HARDER:
            lives[hard][key], lives[1 - hard][key] = (high, low) if HARDER[key] else (low, high)
        else:
            lives[0][key], lives[1][key] = (high, low) if rng.uniform() < 0.5 else (low, high)
        for attack in attacks:
            attack[key] = low + rng.uniform(0.3, 0.7) * (high - low)
    return lives + attacks


def _plan(*, subjects: int, n_frames: int, seed: int = 0, shortcuts: bool = False) -> list[_Plan]:
    """Names, splits, capture conditions and planted defects of every video, deterministically."""
    plans: list[_Plan] = []
    for subject in range(1, subjects + 1):
        split = "train" if subject % 2 == 1 else "test"  # odd -> Train, even -> Test
        photo_index, variant = (subject - 1) % 8, (subject - 1) // 8
        s0 = (subject - 1) % 3
        replay_media = (1 + (2 * (subject - 1)) % 4, 2 + (2 * (subject - 1)) % 4)  # 1,2 / 3,4 / 1,2 ...
        other = 2 if subject % 2 == 1 else 1  # the sensor not used first
        if shortcuts:  # as before: live medium 1, sessions cycled like the attacks'
            live_codes = ((1, 1 + s0), (1, 1 + (s0 + 1) % 3))
        else:  # the live codes span the attacks': medium 1 and the highest replay medium, sessions 1 and 3
            ends = (1, 3) if subject % 2 else (3, 1)
            live_codes = ((1, ends[0]), (max(replay_media), ends[1]))
        specs = [
            ("live", 1, *live_codes[0]),
            ("live", 2, *live_codes[1]),
            ("print", 3 - other, 1, 1 + (s0 + 2) % 3),
            ("print", other, 2, 1 + s0),
            ("replay", 3 - other, replay_media[0], 1 + (s0 + 1) % 3),
            ("replay", other, replay_media[1], 1 + (s0 + 2) % 3),
        ]
        captures = [None] * len(specs) if shortcuts else _captures(seed, subject)
        for (kind, sensor, medium, session), capture in zip(specs, captures):
            plans.append(
                _Plan(
                    index=len(plans),
                    subject=subject,
                    split=split,
                    kind=kind,
                    sensor=sensor,
                    medium=medium,
                    session=session,
                    photo_index=photo_index,
                    variant=variant,
                    capture=capture,
                )
            )

    def find(subject: int, kind: str, nth: int) -> _Plan:
        return [p for p in plans if p.subject == subject and p.kind == kind][nth]

    last = subjects
    find(1, "live", 0).missing_number_line = 1 + n_frames // 3
    find(last, "live", 1).zero_box_line = 1 + (2 * n_frames) // 3
    find(1, "print", 1).short_face = True
    find(last, "print", 0).truncate = True
    test_subjects = [s for s in range(1, subjects + 1) if s % 2 == 0]
    if test_subjects:
        find(test_subjects[0], "replay", 1).m_mov = True
    else:
        log.warning("no Test subject with subjects=%d: the *.m.mov defect is not planted", subjects)
    # The extra live video: subject 1 (Train), sensor 1, a session its live videos do not use.
    used = {p.session for p in plans if p.subject == 1 and p.kind == "live"}
    session = min({1, 2, 3} - used)
    first = plans[0]
    plans.append(
        _Plan(
            index=len(plans),
            subject=1,
            split=first.split,
            kind="live",
            sensor=1,
            medium=1,
            session=session,
            photo_index=first.photo_index,
            variant=first.variant,
            leave_frame=True,
            capture=None if shortcuts else {key: 0.5 for key in CAPTURE_RANGES},
        )
    )
    return plans


def _face_lines(plan: _Plan, boxes: list[list[int] | None]) -> tuple[list[str], list[str]]:
    """The `.face` lines of a video (with its planted defects) and the defect strings."""
    lines = [" ".join(str(v) for v in box) if box is not None else "0 0 0 0" for box in boxes]
    defects: list[str] = []
    if plan.missing_number_line is not None:
        k = plan.missing_number_line
        box = boxes[k - 1]
        if box is None:
            raise RuntimeError(f"no face in frame {k} of {plan.video_rel}: cannot drop a number there")
        # SiW's real case: the second number is missing, leaving a double space.
        lines[k - 1] = f"{box[0]}  {box[2]} {box[3]}"
        defects.append(f"face_missing_number:line={k}")
    if plan.zero_box_line is not None:
        k = plan.zero_box_line
        if boxes[k - 1] is None:
            raise RuntimeError(f"no face in frame {k} of {plan.video_rel}: a 0 0 0 0 line would be correct there")
        lines[k - 1] = "0 0 0 0"
        defects.append(f"face_zero_box:line={k}")
    if plan.short_face:
        lines = lines[: max(0, len(lines) - SHORT_FACE_DROP)]
        defects.append(f"face_short:lines={len(lines)}")
    if plan.m_mov:
        defects.append("m_mov_name")
    if plan.leave_frame:
        gone = next((i for i, b in enumerate(boxes) if b is None), None)
        if gone is None:
            raise RuntimeError(f"the face never left the frame in {plan.video_rel}")
        defects.append(f"face_leaves_frame:from_frame={gone}")
    if plan.truncate:
        defects.append("truncated")
    return lines, defects


def true_landmarks(frame: RenderedFrame) -> list[list[float]] | None:
    """A rendered frame's landmarks for the manifest: None when its face is out of view."""
    if frame.face_box is None or frame.landmarks is None:
        return None
    return [[round(float(x), 2), round(float(y), 2)] for x, y in frame.landmarks]


def write_video(path: Path, frames: list[np.ndarray], *, fps: int, frame_size: tuple[int, int]) -> None:
    """RGB frames to an mp4v `.mov` (the folder must exist)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, frame_size)
    if not writer.isOpened():
        raise RuntimeError(f"cv2.VideoWriter cannot open {path} with mp4v")
    try:
        for rgb in frames:
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def _truncate(path: Path) -> None:
    """Cut a finished video to TRUNCATE_SHARE of its bytes: the mov index (at the end) is lost."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * TRUNCATE_SHARE)])


def write_sample_tree(
    out_dir: Path,
    *,
    subjects: int = 4,
    seconds: float = 2.0,
    seed: int = 0,
    fps: int = 30,
    frame_size: tuple[int, int] = (640, 480),
    shortcuts: bool = False,
) -> SampleManifest:
    """Write a synthetic SiW tree under `out_dir` and return its manifest.

    `out_dir` must be missing, empty, or hold a previous sample tree (which is
    replaced). Defaults: 4 subjects x 6 videos + 1 extra = 25 videos of 60 frames.
    `shortcuts=True` writes the sample as it was before the capture conditions were shared
    (see the module doc): its attacks carry non-liveness shortcuts (sharpness, bitrate).
    Raises UsageError (a ValueError) on bad arguments before anything is written.
    """
    out_dir = Path(out_dir)
    frame_size = tuple(frame_size) if isinstance(frame_size, list) else frame_size
    n_frames = _validate(out_dir=out_dir, subjects=subjects, seconds=seconds, seed=seed, fps=fps, frame_size=frame_size)
    if not isinstance(shortcuts, bool):
        raise UsageError(f"shortcuts must be True or False, got {shortcuts!r}")
    _clear_previous(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    photos = load_face_photos()
    plans = _plan(subjects=subjects, n_frames=n_frames, seed=seed, shortcuts=shortcuts)
    people: dict[int, list[int]] = {}
    for subject in range(1, subjects + 1):
        people.setdefault((subject - 1) % len(photos), []).append(subject)
    variants: dict[tuple[int, int], FacePhoto] = {}

    videos: list[SampleVideo] = []
    for plan in plans:
        key = (plan.photo_index, plan.variant)
        if key not in variants:
            variants[key] = photo_variant(photos[plan.photo_index], variant=plan.variant)
        photo = variants[key]
        rng = np.random.default_rng([seed, plan.index])
        frames = render_video(
            photo,
            kind=plan.kind,
            n_frames=n_frames,
            rng=rng,
            fps=fps,
            frame_size=frame_size,
            medium=plan.medium,
            leave_frame=plan.leave_frame,
            capture=capture_at(plan.capture) if plan.capture is not None else None,
        )
        rendered = list(frames)
        boxes = [list(f.face_box) if f.face_box is not None else None for f in rendered]
        landmarks = [true_landmarks(f) for f in rendered]
        lines, defects = _face_lines(plan, boxes)

        video_path, face_path = out_dir / plan.video_rel, out_dir / plan.face_rel
        video_path.parent.mkdir(parents=True, exist_ok=True)
        write_video(video_path, [f.image for f in rendered], fps=fps, frame_size=frame_size)
        if plan.truncate:
            _truncate(video_path)
        face_path.write_bytes("".join(line + "\n" for line in lines).encode("ascii"))

        videos.append(
            SampleVideo(
                path=plan.video_rel,
                face_path=plan.face_rel,
                subject=plan.subject,
                split=plan.split,
                label=_label(plan.kind),
                attack_type=plan.kind,
                sensor=plan.sensor,
                type_id=TYPE_IDS[plan.kind],
                medium=plan.medium,
                session=plan.session,
                frames=len(rendered),
                face_lines=len(lines),
                photo=photo.name,
                same_person_as=[s for s in people[plan.photo_index] if s != plan.subject],
                defects=defects,
                true_boxes=boxes,
                true_landmarks=landmarks,
            )
        )
        log.info("wrote %s (%d frames%s)", plan.video_rel, len(rendered), f", defects: {defects}" if defects else "")

    manifest = SampleManifest(
        seed=seed, subjects=subjects, seconds=float(seconds), fps=fps, frame_size=tuple(frame_size), videos=videos
    )
    (out_dir / MANIFEST_NAME).write_text(manifest.to_json())
    log.info("sample tree: %d videos under %s", len(videos), out_dir)
    return manifest
