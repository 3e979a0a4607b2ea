"""Render synthetic SiW-like frames (live, print attack, replay attack) from a real face photo.

Every kind of video is one entry of `ATTACKS`: an `AttackSettings` naming how its
*source* is built (the photo cut out, a printed sheet, or a phone/tablet showing the
photo: a texture, an alpha mask and the face box in source pixels), how much it moves,
and the camera's noise and blur. One set-up path (`_set_up`) turns those settings into a
scene (background, source, face size, motion, tint, position); the kind's own frame loop
then moves the source over the background with a per-frame projective transform. The
face box of a frame is computed from that same transform (the bounding box of the
transformed face-box corners, clipped to the frame), so the ground truth is exact by
construction.

All randomness comes from the `numpy.random.Generator` passed in; nothing reads
the clock or the global RNG, so the same generator state renders the same frames.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from etl.errors import require
from etl.synthetic.face_photos import FacePhoto, extend_border
from schemas.vocabulary import AttackType, values

log = logging.getLogger(f"facelake.{__name__}")

Box = tuple[int, int, int, int]
KINDS = values(AttackType)
DEFAULT_FRAME_SIZE = (640, 480)  # (width, height)
DEFAULT_FPS = 30
# A face box with less than this share of its area inside the frame counts as "no face".
MIN_VISIBLE = 0.3
# Target face-box width as a share of min(W, 4/3 H): 0.19..0.22 of 640 px = 122..141 px,
# so that with breathing and +-6 deg rotation the box stays within ~110..170 px.
FACE_WIDTH_SHARE = (0.19, 0.22)


@dataclass(frozen=True)
class RenderedFrame:
    """One frame (RGB uint8, HxWx3), the face box in frame pixels (None if out of view) and the
    photo's 5 landmarks carried by the same transform (5 x 2 frame pixels, wherever the face is)."""

    image: np.ndarray
    face_box: Box | None
    landmarks: np.ndarray | None = None


@dataclass(frozen=True)
class Capture:
    """How one video is filmed, whatever is filmed: the camera, the room, the framing.

    With a `Capture`, `render_video` takes these from it instead of drawing them per kind, and
    matches the face's luma to the photo's (times `face_contrast`) whatever the kind's medium does
    to it: a print's ink and paper, a screen's black level and cast. What is left to tell an
    attack from a live face is the presentation itself (halftone, moire, bezel, sheet edges,
    glare, rigid motion), not the camera or the light. Without one (`capture=None`) every kind
    keeps its own camera and framing (`AttackSettings`), as the sample did before: print attacks
    then come out far sharper, and attacks encode at a higher bitrate, than live faces.

    Args:
        face_share: face-box width as a share of min(W, 4/3 H).
        home: where the face centre rests, as shares of (W, H).
        exposure: camera gain (1: as lit).
        bg_level: mean grey level of the room behind the face (0..255).
        bg_contrast: the std of the room's grey levels (its gradient and blotches, grain aside).
        face_contrast: the face's luma contrast relative to the photo's.
        noise_sigma: sensor noise (grey levels).
        blur_sigma: optical blur (pixels, 0: none).
        grain: fine texture of the room (grey levels; averages out at the background's scale).
    """

    face_share: float
    home: tuple[float, float]
    exposure: float
    bg_level: float
    bg_contrast: float
    face_contrast: float
    noise_sigma: float
    blur_sigma: float
    grain: float


# The range of every `Capture` value (low, high); `home` is (home_x, home_y).
CAPTURE_RANGES: dict[str, tuple[float, float]] = {
    "face_share": (0.17, 0.26),
    "home_x": (0.43, 0.57),
    "home_y": (0.38, 0.58),
    "exposure": (0.55, 1.15),
    "bg_level": (50.0, 205.0),
    "bg_contrast": (6.0, 60.0),
    "face_contrast": (0.7, 1.2),
    "noise_sigma": (1.2, 5.0),
    "blur_sigma": (0.0, 1.4),
    "grain": (2.0, 90.0),
}


# With a `Capture`: the camera's own blur of a flat medium's fine pattern (frame pixels: the halftone
# screen and the sub-pixels are not resolved), a replay screen's glare peak (grey levels), and how far
# beyond the face box a print is cropped (shares of the face box: sides, top, bottom).
CAMERA_PIXEL_BLUR = 0.8
CAPTURE_DOTS = 0.15
SCREEN_PIXEL_BLUR = 0.5
CAPTURE_BEZEL = 4.0
CAPTURE_GLARE = 25.0
CAPTURE_MOIRE = 0.04
PRINT_CROP = (0.45, 0.5, 0.8)


def capture_at(position: dict[str, float]) -> Capture:
    """The `Capture` at `position`: for every key of `CAPTURE_RANGES`, a share 0..1 of its range."""
    missing = sorted(set(CAPTURE_RANGES) - set(position))
    require(not missing, f"capture position lacks {', '.join(missing)}")
    value = {k: lo + float(position[k]) * (hi - lo) for k, (lo, hi) in CAPTURE_RANGES.items()}
    home = (value.pop("home_x"), value.pop("home_y"))
    return Capture(home=home, **value)


# --------------------------------------------------------------------------- geometry


def placement(
    *,
    anchor: tuple[float, float],
    center: tuple[float, float],
    angle_deg: float,
    scale: float,
    tilt: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """3x3 homography: source point `anchor` goes to frame point `center`.

    Around the anchor the source is scaled, rotated (degrees, counter-clockwise on
    screen) and tilted: `tilt` = (tx, ty) is the relative depth change per source
    pixel along x and y (a flat sheet seen slightly off-axis); (0, 0) is affine.
    """
    ax, ay = anchor
    to_origin = np.array([[1.0, 0.0, -ax], [0.0, 1.0, -ay], [0.0, 0.0, 1.0]])
    a = math.radians(angle_deg)
    c, s = math.cos(a) * scale, math.sin(a) * scale
    # Image y points down, so a counter-clockwise turn on screen uses -angle.
    rot_scale = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    persp = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [tilt[0], tilt[1], 1.0]])
    to_center = np.array([[1.0, 0.0, center[0]], [0.0, 1.0, center[1]], [0.0, 0.0, 1.0]])
    return to_center @ rot_scale @ persp @ to_origin


def transform_points(points: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """Apply a 3x3 homography to an (N, 2) array of points."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    homog = np.hstack([pts, np.ones((len(pts), 1))]) @ homography.T
    return homog[:, :2] / homog[:, 2:3]


def project_box(
    box: tuple[float, ...],
    *,
    homography: np.ndarray,
    frame_size: tuple[int, int],
    min_visible: float = MIN_VISIBLE,
) -> Box | None:
    """Face box (x1, y1, x2, y2) in source pixels -> integer box in the frame.

    The bounding box of the 4 transformed corners, clipped to the frame
    ([0, W-1] x [0, H-1]); None when less than `min_visible` of its area is inside.
    """
    x1, y1, x2, y2 = box[:4]
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float64)
    pts = transform_points(corners, homography)
    bx1, by1 = pts.min(axis=0)
    bx2, by2 = pts.max(axis=0)
    width, height = frame_size
    cx1, cy1 = max(bx1, 0.0), max(by1, 0.0)
    cx2, cy2 = min(bx2, width - 1.0), min(by2, height - 1.0)
    full = (bx2 - bx1) * (by2 - by1)
    inside = max(cx2 - cx1, 0.0) * max(cy2 - cy1, 0.0)
    if full <= 0 or inside / full < min_visible:
        return None
    return (int(round(cx1)), int(round(cy1)), int(round(cx2)), int(round(cy2)))


# ------------------------------------------------------------------- shared helpers


def _smooth(
    rng: np.random.Generator, *, n_frames: int, fps: float, amplitude: float, max_hz: float = 0.8
) -> np.ndarray:
    """A smooth random signal in [-amplitude, amplitude]: two slow sinusoids."""
    t = np.arange(n_frames, dtype=np.float64) / fps
    freqs = rng.uniform(0.1, max_hz, size=2)
    phases = rng.uniform(0.0, 2 * math.pi, size=2)
    weights = rng.uniform(0.3, 1.0, size=2)
    weights /= weights.sum()
    return amplitude * (weights[:, None] * np.sin(2 * math.pi * freqs[:, None] * t + phases[:, None])).sum(axis=0)


@dataclass(frozen=True)
class _Motion:
    """Per-frame placement and lighting parameters of one video."""

    dx: np.ndarray
    dy: np.ndarray
    angle: np.ndarray
    scale: np.ndarray
    tilt_x: np.ndarray
    tilt_y: np.ndarray
    gain: np.ndarray
    gamma: np.ndarray
    bg_dx: np.ndarray
    bg_dy: np.ndarray


def _motion(
    rng: np.random.Generator,
    *,
    n_frames: int,
    fps: float,
    shift: float,
    angle: float,
    breathing: float,
    tilt: float,
    gain: float,
    gamma: float,
    bg_shift: float,
) -> _Motion:
    def sig(amplitude: float) -> np.ndarray:
        return _smooth(rng, n_frames=n_frames, fps=fps, amplitude=amplitude)

    return _Motion(
        dx=sig(shift),
        dy=sig(shift * 0.6),
        angle=sig(angle),
        scale=1.0 + sig(breathing),
        tilt_x=sig(tilt),
        tilt_y=sig(tilt),
        gain=1.0 + sig(gain),
        gamma=1.0 + sig(gamma),
        bg_dx=sig(bg_shift),
        bg_dy=sig(bg_shift),
    )


def _background(
    rng: np.random.Generator, *, frame_size: tuple[int, int], margin: int, capture: Capture | None = None
) -> np.ndarray:
    """A smooth, slightly textured indoor-like background, `margin` px larger per side.

    Two muted colours in a gradient, low-frequency blotches (walls, furniture out of
    focus) and fine grain; float32 RGB in 0..255. With a `capture`, its mean grey level is
    `bg_level`, the std of its gradient and blotches `bg_contrast`, and its grain `grain`.
    """
    width, height = frame_size[0] + 2 * margin, frame_size[1] + 2 * margin
    base = rng.uniform(60, 200, size=3)
    other = np.clip(base + rng.uniform(-60, 60, size=3), 20, 235)
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = (xx * math.cos(angle) + yy * math.sin(angle)) / max(width, height)
    ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)
    img = base[None, None, :] * (1 - ramp[..., None]) + other[None, None, :] * ramp[..., None]
    # Mostly brightness blotches with a little colour: muted, like a room out of focus.
    blotches = rng.normal(0.0, 1.0, size=(6, 8, 1)) * 16.0 + rng.normal(0.0, 1.0, size=(6, 8, 3)) * 4.0
    blotches = cv2.resize(blotches.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    grain = cv2.GaussianBlur(rng.normal(0.0, 1.0, size=(height, width)).astype(np.float32), (0, 0), 1.2)
    if capture is not None:
        smooth = img + blotches
        mean = smooth.mean(axis=(0, 1))
        grey = smooth @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        level = capture.bg_level / max(float(grey.mean()), 1.0)
        spread = capture.bg_contrast / max(float(grey.std()) * level, 1e-3)
        img = (mean + spread * (smooth - mean)) * level + capture.grain * grain[..., None]
        return np.clip(img, 0, 255).astype(np.float32)
    img = img + blotches + 6.0 * grain[..., None]
    return np.clip(img, 0, 255).astype(np.float32)


def _warp(src: np.ndarray, homography: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    return cv2.warpPerspective(
        src, homography, frame_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def _composite(
    background: np.ndarray,
    *,
    texture: np.ndarray,
    alpha: np.ndarray,
    homography: np.ndarray,
    frame_size: tuple[int, int],
) -> np.ndarray:
    """Warp `texture` (float32 RGB) and its `alpha` (float32 0..1) onto the background."""
    fg = _warp(texture, homography, frame_size)
    a = _warp(alpha, homography, frame_size)[..., None]
    return background * (1.0 - a) + fg * a


def _finish(
    frame: np.ndarray,
    rng: np.random.Generator,
    *,
    gain: float,
    gamma: float,
    tint: np.ndarray,
    noise_sigma: float,
    blur_sigma: float = 0.0,
) -> np.ndarray:
    """Camera side: optical blur, exposure (gain, gamma, white balance) and sensor noise."""
    if blur_sigma > 0:
        frame = cv2.GaussianBlur(frame, (0, 0), blur_sigma)
    img = np.clip(frame, 0, 255).astype(np.uint8)
    levels = np.arange(256, dtype=np.float64) / 255.0
    lut = 255.0 * np.clip(levels[:, None] * gain * tint[None, :], 0.0, 1.0) ** gamma
    img = cv2.LUT(img, np.clip(lut + 0.5, 0, 255).astype(np.uint8).reshape(1, 256, 3))
    noise = rng.standard_normal(size=img.shape, dtype=np.float32) * noise_sigma
    return np.clip(img.astype(np.float32) + noise + 0.5, 0, 255).astype(np.uint8)


def _target_face_width(rng: np.random.Generator, frame_size: tuple[int, int]) -> float:
    ref = min(frame_size[0], frame_size[1] * 4.0 / 3.0)
    return float(rng.uniform(*FACE_WIDTH_SHARE) * ref)


def _feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)


def _face_luma(image: np.ndarray, box: tuple[float, ...]) -> tuple[float, float]:
    """Mean and std of the BT.601 luma of `image` (RGB) inside `box` (x1, y1, x2, y2)."""
    x1, y1 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    x2, y2 = int(round(box[2])), int(round(box[3]))
    face = image[y1:y2, x1:x2, :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return float(face.mean()), float(face.std())


def _tone_matched(
    image: np.ndarray, box: tuple[float, ...], *, target: tuple[float, float], factor: float = 1.0
) -> np.ndarray:
    """`image` (float32 RGB) with one affine map of its levels, so that `factor` x its face box has
    the luma mean and std of `target` (the same map on every channel keeps the colours)."""
    mean, std = _face_luma(image * factor, box)
    gain = target[1] / max(std, 1e-3)
    return np.clip(((image * factor - mean) * gain + target[0]) / factor, 0.0, 255.0 / factor).astype(np.float32)


# ---------------------------------------------------------------- one set-up path


@dataclass(frozen=True)
class _Source:
    """What a video moves over the background, in source pixels.

    `texture` is float32 RGB 0..255 (for a replay device: the display content only,
    the device is drawn per frame), `alpha` float32 0..1 over the whole source, `box`
    the face box (x1, y1, x2, y2), `landmarks` the photo's 5 landmarks (5 x 2) and `display` a
    device's display rectangle (x, y, w, h).
    """

    texture: np.ndarray
    alpha: np.ndarray
    box: tuple[float, ...]
    landmarks: np.ndarray
    display: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class _Scene:
    """One video set up: background, source, placement, motion and camera, before any frame."""

    settings: AttackSettings
    photo: FacePhoto
    rng: np.random.Generator
    n_frames: int
    fps: float
    frame_size: tuple[int, int]
    medium: int
    leave_frame: bool
    background: np.ndarray
    source: _Source
    base_scale: float
    motion: _Motion
    tint: np.ndarray
    home: tuple[float, float]
    capture: Capture | None = None

    @property
    def face_target(self) -> tuple[float, float]:
        """The face's luma (mean, std) as filmed under `capture`: the photo's, contrast scaled."""
        mean, std = _face_luma(self.photo.image, self.photo.face_box)
        return mean, std * (self.capture.face_contrast if self.capture is not None else 1.0)

    @property
    def anchor(self) -> tuple[float, float]:
        """The face box centre in source pixels: the point placed at `home`."""
        box = self.source.box
        return (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0

    def pose(self, i: int, *, offset_x: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Frame i of the source moving rigidly: its homography, and the background window seen
        behind it (the background drifts a little by itself); `offset_x` moves it further sideways."""
        width, height = self.frame_size
        m, margin = self.motion, self.settings.margin
        center = (self.home[0] + m.dx[i] + offset_x, self.home[1] + m.dy[i])
        tilt = (float(m.tilt_x[i]), float(m.tilt_y[i]))
        hom = placement(
            anchor=self.anchor,
            center=center,
            angle_deg=float(m.angle[i]),
            scale=self.base_scale * m.scale[i],
            tilt=tilt,
        )
        bx, by = margin + int(round(m.bg_dx[i])), margin + int(round(m.bg_dy[i]))
        return hom, self.background[by : by + height, bx : bx + width]

    def shoot(self, frame: np.ndarray, i: int, homography: np.ndarray) -> RenderedFrame:
        """The camera's frame i (blur, exposure, noise) with the face box projected by `homography`."""
        m, settings, capture = self.motion, self.settings, self.capture
        image = _finish(
            frame,
            self.rng,
            gain=float(m.gain[i]) * (capture.exposure if capture is not None else 1.0),
            gamma=float(m.gamma[i]),
            tint=self.tint,
            noise_sigma=capture.noise_sigma if capture is not None else settings.noise_sigma,
            blur_sigma=capture.blur_sigma if capture is not None else settings.blur_sigma,
        )
        return RenderedFrame(
            image=image,
            face_box=project_box(self.source.box, homography=homography, frame_size=self.frame_size),
            landmarks=transform_points(self.source.landmarks, homography),
        )


@dataclass(frozen=True)
class AttackSettings:
    """How one kind of video (live, print, replay) is set up and moves.

    Args:
        source: builds what is filmed from the photo: (photo, rng, medium) -> `_Source`.
        frames: the kind's own per-frame work over a set-up `_Scene`.
        media: the medium ids the kind accepts, None when it has no medium.
        margin: background pixels beyond the frame on each side (room for its drift).
        shift: drift amplitude as a share of the frame width (vertical: 0.6 of it).
        angle: rotation amplitude in degrees.
        breathing: scale amplitude (relative).
        tilt: perspective wobble, relative depth change across half the source (0: affine).
        gain, gamma: exposure drift amplitudes (relative).
        bg_shift: background drift amplitude in pixels.
        tint: white-balance spread per channel (relative).
        noise_sigma: sensor noise (grey levels); blur_sigma: optical blur (pixels, 0: none).
    """

    source: Callable[[FacePhoto, np.random.Generator, int], _Source]
    frames: Callable[[_Scene], Iterator[RenderedFrame]]
    media: tuple[int, ...] | None
    margin: int
    shift: float
    angle: float
    breathing: float
    tilt: float
    gain: float
    gamma: float
    bg_shift: float
    tint: float
    noise_sigma: float
    blur_sigma: float = 0.0


def _set_up(
    photo: FacePhoto,
    settings: AttackSettings,
    *,
    rng: np.random.Generator,
    n_frames: int,
    fps: float,
    frame_size: tuple[int, int],
    medium: int,
    leave_frame: bool,
    capture: Capture | None = None,
) -> _Scene:
    """The one set-up of every kind: background, source, face size, motion, tint, home position.

    The generator is drawn in this order for every kind, so a kind's frames depend only on
    its settings, the photo, the generator's state and `capture` (which, when given, sets the
    room, the face size and position, and the camera, and matches the face's tone to the photo's).
    """
    width, height = frame_size
    background = _background(rng, frame_size=frame_size, margin=settings.margin, capture=capture)
    # with a capture, a print shows a head-and-shoulders crop of the photo, not the whole photo
    printed = capture is not None and settings.source is _print_sheet
    if printed:
        source = _print_sheet(_head_crop(photo), rng, medium, border=False, dot_weight=CAPTURE_DOTS)
    else:
        source = settings.source(photo, rng, medium)
    face_width = _target_face_width(rng, frame_size)
    if capture is not None:
        face_width = capture.face_share * min(width, height * 4.0 / 3.0)
    base_scale = face_width / (source.box[2] - source.box[0])
    source_half = max(source.alpha.shape[:2]) / 2.0  # tilt is per source pixel
    motion = _motion(
        rng,
        n_frames=n_frames,
        fps=fps,
        shift=settings.shift * width,
        angle=settings.angle,
        breathing=settings.breathing,
        tilt=settings.tilt / max(source_half, 1.0),
        gain=settings.gain,
        gamma=settings.gamma,
        bg_shift=settings.bg_shift,
    )
    tint = 1.0 + rng.uniform(-settings.tint, settings.tint, size=3)
    home = (width * rng.uniform(0.45, 0.55), height * rng.uniform(0.44, 0.52))
    if capture is not None:
        home = (width * capture.home[0], height * capture.home[1])
    return _Scene(
        settings=settings,
        photo=photo,
        rng=rng,
        n_frames=n_frames,
        fps=fps,
        frame_size=frame_size,
        medium=medium,
        leave_frame=leave_frame,
        background=background,
        source=source,
        base_scale=base_scale,
        motion=motion,
        tint=tint,
        home=home,
        capture=capture,
    )


# ------------------------------------------------------------------------ live


def _head_mask(photo: FacePhoto) -> np.ndarray:
    """Soft head-and-shoulders alpha (0..1) in photo pixels, zero at the crop border."""
    h, w = photo.image.shape[:2]
    x1, y1, x2, y2 = photo.face_box[:4]
    fw, fh = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    mask = np.zeros((h, w), dtype=np.uint8)
    # Head with hair: an ellipse a bit wider than the face box and raised.
    cv2.ellipse(mask, (int(cx), int(cy - 0.1 * fh)), (int(0.78 * fw), int(0.92 * fh)), 0, 0, 360, 255, -1)
    # Neck and shoulders below the chin.
    shoulders = np.array(
        [[cx - 0.35 * fw, cy + 0.4 * fh], [cx + 0.35 * fw, cy + 0.4 * fh], [cx + 1.2 * fw, h], [cx - 1.2 * fw, h]],
        dtype=np.int32,
    )
    cv2.fillConvexPoly(mask, shoulders, 255)
    border = max(2, int(0.06 * min(h, w)))
    mask[:border, :] = 0
    mask[:, :border] = 0
    mask[:, w - border :] = 0
    mask[h - border :, :] = 0
    return np.clip(_feather(mask / 255.0, 0.1 * fw), 0.0, 1.0)


def _live_head(photo: FacePhoto, rng: np.random.Generator, medium: int) -> _Source:
    """The photo's head and shoulders, cut out (a live video has no medium)."""
    return _Source(
        texture=photo.image.astype(np.float32), alpha=_head_mask(photo), box=photo.face_box, landmarks=photo.landmarks
    )


def _live_frames(scene: _Scene) -> Iterator[RenderedFrame]:
    """A live face moving naturally; with `leave_frame` it slides out sideways in the second half
    (starting at frame n//2, gone about 0.3 n frames later) and stays out."""
    exit_dx = _exit_offsets(
        scene.rng,
        n_frames=scene.n_frames,
        photo=scene.photo,
        scale=scene.base_scale,
        home_x=scene.home[0],
        width=scene.frame_size[0],
    )
    source = scene.source
    texture = source.texture
    if scene.capture is not None:
        texture = _tone_matched(texture, source.box, target=scene.face_target)
    for i in range(scene.n_frames):
        hom, bg = scene.pose(i, offset_x=exit_dx[i] if scene.leave_frame else 0.0)
        frame = _composite(bg, texture=texture, alpha=source.alpha, homography=hom, frame_size=scene.frame_size)
        yield scene.shoot(frame, i, hom)


def _exit_offsets(
    rng: np.random.Generator, *, n_frames: int, photo: FacePhoto, scale: float, home_x: float, width: int
) -> np.ndarray:
    """Horizontal offset per frame that takes the whole head out of the frame.

    Zero for the first half; then an eased slide over ~30 % of the video to a point
    where the entire photo (diagonal included) is past the frame edge.
    """
    direction = 1.0 if rng.uniform() < 0.5 else -1.0
    start = n_frames // 2
    end = min(n_frames - 1, start + max(1, int(round(0.3 * n_frames))))
    reach = 0.75 * max(photo.image.shape[:2]) * scale * 1.1  # half diagonal, rotation, breathing
    dist = (width - home_x + reach + 40) if direction > 0 else (home_x + reach + 40)
    offsets = np.zeros(n_frames, dtype=np.float64)
    for i in range(start, n_frames):
        p = 1.0 if end <= start else min(1.0, (i - start + 1) / (end - start + 1))
        offsets[i] = direction * dist * (0.5 - 0.5 * math.cos(math.pi * p))
    return offsets


# ----------------------------------------------------------------------- print


@dataclass(frozen=True)
class _Paper:
    """A print medium: halftone period (sheet px), contrast, saturation, share of dots in the tone."""

    period: float
    contrast: float
    saturation: float
    dot_weight: float


# Print media per SiW medium id: 1 is a fine screen with stronger dots, 2 a coarser screen with
# fainter dots and flatter colours.
_PAPERS: dict[int, _Paper] = {
    1: _Paper(period=4.0, contrast=0.80, saturation=0.72, dot_weight=0.5),
    2: _Paper(period=5.0, contrast=0.78, saturation=0.62, dot_weight=0.4),
}


def _halftone(rgb: np.ndarray, *, period: float, dot_weight: float) -> np.ndarray:
    """CMY halftone of an RGB float image in 0..1, screens at 15/75/0 degrees.

    The dots are softened (sigmoid threshold) and mixed with the continuous tone
    (`dot_weight` of dots): a visible screen and moire without destroying the face
    for a detector.
    """
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty_like(rgb)
    for ch, angle in enumerate((15.0, 75.0, 0.0)):  # C (red channel), M (green), Y (blue)
        a = math.radians(angle)
        u = (xx * math.cos(a) + yy * math.sin(a)) * (2 * math.pi / period)
        v = (-xx * math.sin(a) + yy * math.cos(a)) * (2 * math.pi / period)
        screen = 0.5 + 0.25 * (np.cos(u) + np.cos(v))  # 0..1 dot profile
        ink = 1.0 - rgb[..., ch]
        dots = 1.0 / (1.0 + np.exp(-(ink - screen) * 12.0))
        out[..., ch] = 1.0 - (dot_weight * dots + (1.0 - dot_weight) * ink)
    return out


def _head_crop(photo: FacePhoto) -> FacePhoto:
    """The photo cropped to the face box grown by `PRINT_CROP` (what a captured print shows)."""
    h, w = photo.image.shape[:2]
    x1, y1, x2, y2 = photo.face_box[:4]
    fw, fh = x2 - x1, y2 - y1
    side, top, bottom = PRINT_CROP
    cx1, cy1 = max(0, int(x1 - side * fw)), max(0, int(y1 - top * fh))
    cx2, cy2 = min(w, int(math.ceil(x2 + side * fw))), min(h, int(math.ceil(y2 + bottom * fh)))
    box = (x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1, *photo.face_box[4:])
    return FacePhoto(
        name=photo.name,
        image=np.ascontiguousarray(photo.image[cy1:cy2, cx1:cx2]),
        face_box=box,
        landmarks=photo.landmarks - np.array([cx1, cy1], dtype=np.float64),
    )


def _print_sheet(
    photo: FacePhoto, rng: np.random.Generator, medium: int, *, border: bool = True, dot_weight: float | None = None
) -> _Source:
    """A sheet of paper with the photo printed on it (medium 1 or 2, see `_PAPERS`).

    Halftone dots, lower contrast and gamut, paper fibre and a visible darker edge.
    """
    up = 2.0  # sheet pixels per photo pixel: room for halftone dots finer than the face
    screen = _PAPERS[medium]
    img = cv2.resize(photo.image, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0
    grey = img.mean(axis=2, keepdims=True)
    img = grey + screen.saturation * (img - grey)  # reduced colour gamut
    img = 0.1 + screen.contrast * img  # ink never reaches black, paper never glares
    dots = screen.dot_weight if dot_weight is None else dot_weight
    img = _halftone(np.clip(img, 0, 1), period=screen.period, dot_weight=dots)
    paper = np.array([0.95, 0.94, 0.90], dtype=np.float32) * rng.uniform(0.97, 1.0)
    img = img * paper
    ph, pw = img.shape[:2]
    left = int(0.12 * pw) if border else 2
    top = int(0.10 * ph) if border else 2
    bottom = int(0.22 * ph) if border else 2
    sheet = np.empty((ph + top + bottom, pw + 2 * left, 3), dtype=np.float32)
    sheet[:] = paper
    sheet[top : top + ph, left : left + pw] = img
    # Paper fibre texture and a thin darker edge: the sheet's border is visible.
    fibre = cv2.GaussianBlur(rng.normal(0, 1, size=sheet.shape[:2]).astype(np.float32), (0, 0), 1.0)
    sheet = sheet * (1.0 + 0.015 * fibre[..., None])
    edge = 3
    sheet[:edge, :] *= 0.78
    sheet[-edge:, :] *= 0.78
    sheet[:, :edge] *= 0.78
    sheet[:, -edge:] *= 0.78
    alpha = np.ones(sheet.shape[:2], dtype=np.float32)
    x1, y1, x2, y2 = photo.face_box[:4]
    box = (x1 * up + left, y1 * up + top, x2 * up + left, y2 * up + top)
    landmarks = photo.landmarks * up + [left, top]
    return _Source(texture=np.clip(sheet * 255.0, 0, 255), alpha=alpha, box=box, landmarks=landmarks)


def _print_frames(scene: _Scene) -> Iterator[RenderedFrame]:
    """The sheet held in front of the camera: a soft shadow behind it and uneven light on it."""
    width, height = frame_size = scene.frame_size
    rng, source = scene.rng, scene.source
    shadow_offset = rng.uniform(4, 10, size=2)
    light_angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    light_dir = (xx * math.cos(light_angle) + yy * math.sin(light_angle)) / max(width, height)
    texture = source.texture
    if scene.capture is not None:
        # the camera does not resolve the halftone screen (it integrates over its pixels), and the
        # ink and paper are such that the printed face has the filmed face's tone
        texture = cv2.GaussianBlur(texture, (0, 0), CAMERA_PIXEL_BLUR / scene.base_scale)
        texture = _tone_matched(texture, source.box, target=scene.face_target)
    for i in range(scene.n_frames):
        hom, bg = scene.pose(i)
        # Soft shadow of the sheet on the background (held a little in front of it).
        shadow_hom = np.array([[1, 0, shadow_offset[0]], [0, 1, shadow_offset[1]], [0, 0, 1]]) @ hom
        shadow = _feather(_warp(source.alpha, shadow_hom, frame_size), 6.0)
        bg = bg * (1.0 - 0.35 * shadow[..., None])
        sheet_a = _warp(source.alpha, hom, frame_size)[..., None]
        fg = _warp(texture, hom, frame_size)
        # Uneven light on the paper, changing as the sheet moves.
        shading = 1.0 + 0.12 * (light_dir - 0.5 + 0.3 * math.sin(i / max(scene.fps, 1) * 1.7))
        frame = bg * (1.0 - sheet_a) + fg * shading[..., None] * sheet_a
        yield scene.shoot(frame, i, hom)


# ---------------------------------------------------------------------- replay


@dataclass(frozen=True)
class _Screen:
    """A replay device: display aspect (w/h) and colour cast (RGB gains)."""

    aspect: float
    cast: tuple[float, float, float]


# Replay devices per SiW medium id (1..4).
_SCREENS: dict[int, _Screen] = {
    1: _Screen(4.0 / 3.0, (0.94, 0.98, 1.08)),  # tablet, landscape, cool
    2: _Screen(9.0 / 16.0, (0.97, 1.00, 1.06)),  # phone, portrait
    3: _Screen(9.0 / 16.0, (1.05, 0.98, 0.94)),  # phone, portrait, warm
    4: _Screen(16.0 / 9.0, (0.95, 1.02, 1.03)),  # monitor, landscape
}


def _screen_device(photo: FacePhoto, rng: np.random.Generator, medium: int) -> _Source:
    """The photo shown on a device's display, in device pixels.

    The texture is the display content only (the device is drawn per frame), the alpha
    the device's rounded outline. The display shows a region around the face; where that
    region leaves the photo, the photo's border is extended (blurred), like a video with
    background.
    """
    aspect = _SCREENS[medium].aspect
    x1, y1, x2, y2 = photo.face_box[:4]
    fh = y2 - y1
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    # Display region in photo pixels: the face takes ~45 % of the display height
    # (portrait) or ~60 % (landscape), and always fits the display width.
    region_h = fh / (0.45 if aspect < 1 else 0.6)
    region_w = max(region_h * aspect, (x2 - x1) * 1.3)
    region_h = region_w / aspect
    pad = int(math.ceil(max(region_w, region_h)))
    ext = extend_border(photo.image, pad=pad)
    rx0, ry0 = cx - region_w / 2.0 + pad, cy - region_h / 2.0 + pad
    disp_w = 480 if aspect >= 1 else 300
    disp_h = int(round(disp_w / aspect))
    k = disp_w / region_w  # display pixels per photo pixel
    to_display = np.array([[k, 0.0, -k * rx0], [0.0, k, -k * ry0]])
    content = cv2.warpAffine(ext, to_display, (disp_w, disp_h), flags=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    bezel_side = int(0.05 * min(disp_w, disp_h)) + 8
    bezel_end = bezel_side + (int(0.12 * disp_h) if aspect < 1 else 6)  # phones: top/bottom chin
    dev_w, dev_h = disp_w + 2 * bezel_side, disp_h + 2 * bezel_end
    alpha = np.zeros((dev_h, dev_w), dtype=np.uint8)
    radius = int(0.06 * min(dev_w, dev_h))
    cv2.rectangle(alpha, (radius, 0), (dev_w - 1 - radius, dev_h - 1), 255, -1)
    cv2.rectangle(alpha, (0, radius), (dev_w - 1, dev_h - 1 - radius), 255, -1)
    for px in (radius, dev_w - 1 - radius):
        for py in (radius, dev_h - 1 - radius):
            cv2.circle(alpha, (px, py), radius, 255, -1, lineType=cv2.LINE_AA)
    # Device-pixel face box: photo -> extended photo (+pad) -> display (k) -> device (+bezel).
    ox, oy = bezel_side - k * rx0 + k * pad, bezel_end - k * ry0 + k * pad
    box = (x1 * k + ox, y1 * k + oy, x2 * k + ox, y2 * k + oy)
    return _Source(
        texture=content.astype(np.float32),
        alpha=alpha.astype(np.float32) / 255.0,
        box=box,
        landmarks=photo.landmarks * k + [ox, oy],
        display=(bezel_side, bezel_end, disp_w, disp_h),
    )


def _replay_frames(scene: _Scene) -> Iterator[RenderedFrame]:
    """The device held in front of the camera: dark bezel, sub-pixel grid and moire bands,
    rolling horizontal banding and scanlines, a glare gradient, raised black level and a
    colour cast per device."""
    rng, source, fps = scene.rng, scene.source, scene.fps
    dx0, dy0, dw, dh = source.display
    cast = np.array(_SCREENS[scene.medium].cast, dtype=np.float32)
    # Static display physics, in display pixels.
    yy, xx = np.mgrid[0:dh, 0:dw].astype(np.float32)
    subpixel = np.ones((dh, dw, 3), dtype=np.float32)
    for ch in range(3):  # RGB stripes, 3 px period: aliases into moire once resampled
        subpixel[..., ch] = np.where((xx.astype(np.int32) % 3) == ch, 1.0, 0.86)
    scanlines = 1.0 - 0.06 * (yy.astype(np.int32) % 2)[..., None]
    curv = rng.uniform(2e-5, 6e-5)
    moire_angle = rng.uniform(0, math.pi)
    moire_freq = rng.uniform(0.05, 0.09)
    moire_base = (xx * math.cos(moire_angle) + yy * math.sin(moire_angle)) * moire_freq + curv * (
        (xx - dw / 2) ** 2 + (yy - dh / 2) ** 2
    )
    glare_angle = rng.uniform(0, 2 * math.pi)
    glare_axis = (xx * math.cos(glare_angle) + yy * math.sin(glare_angle)) / max(dw, dh)
    glare_pos = rng.uniform(-0.2, 0.4) + _smooth(rng, n_frames=scene.n_frames, fps=fps, amplitude=0.15)
    band_speed = rng.uniform(0.4, 1.2) * dh  # rolling band, display px per second
    shown = source.texture * cast * 0.92 + 12.0  # colour cast; an LCD's black is not black
    pixels = shown * subpixel * scanlines
    glare_peak, moire_depth = 70.0, 0.07
    if scene.capture is not None:
        # the camera does not resolve the sub-pixels (it integrates over its pixels), the screen's
        # brightness and contrast are such that the shown face has the filmed face's tone, and the
        # glare is milder (it would brighten the face)
        pixels = cv2.GaussianBlur(pixels, (0, 0), SCREEN_PIXEL_BLUR / scene.base_scale)
        face = tuple(v - o for v, o in zip(source.box, (dx0, dy0, dx0, dy0)))
        pixels = _tone_matched(pixels, face, target=scene.face_target)
        glare_peak, moire_depth = CAPTURE_GLARE, CAPTURE_MOIRE
    device = np.empty((source.alpha.shape[0], source.alpha.shape[1], 3), dtype=np.float32)
    bezel = np.array([20.0, 20.0, 23.0], dtype=np.float32) * rng.uniform(0.8, 1.3)
    if scene.capture is not None:  # a grey frame, not a black one: the bezel alone would stand out of the room
        bezel = bezel * CAPTURE_BEZEL
    for i in range(scene.n_frames):
        t = i / fps
        moire = 1.0 + moire_depth * np.cos(2 * math.pi * moire_base + 1.3 * t)
        band_y = (band_speed * t) % dh
        band = 1.0 - 0.08 * np.exp(-(((yy - band_y) / (0.08 * dh)) ** 2))
        glare = glare_peak * np.exp(-(((glare_axis - glare_pos[i]) / 0.25) ** 2))
        display = pixels * (moire * band)[..., None] + glare[..., None]
        device[:] = bezel
        device[dy0 : dy0 + dh, dx0 : dx0 + dw] = display
        hom, bg = scene.pose(i)
        frame = _composite(bg, texture=device, alpha=source.alpha, homography=hom, frame_size=scene.frame_size)
        yield scene.shoot(frame, i, hom)


# ------------------------------------------------------------- the kinds, dispatch

# Every kind of video, set up by `_set_up` from its settings. Live: natural drift, +-6 deg
# rotation, breathing; print and replay: a flat object moving rigidly and less, with a slight
# perspective wobble, a blurrier camera and (replay) more sensor noise.
ATTACKS: dict[str, AttackSettings] = {
    "live": AttackSettings(
        source=_live_head,
        frames=_live_frames,
        media=None,
        margin=16,
        shift=0.045,
        angle=6.0,
        breathing=0.035,
        tilt=0.0,
        gain=0.1,
        gamma=0.08,
        bg_shift=4.0,
        tint=0.04,
        noise_sigma=2.5,
    ),
    "print": AttackSettings(
        source=_print_sheet,
        frames=_print_frames,
        media=tuple(_PAPERS),
        margin=8,
        shift=0.03,
        angle=4.0,
        breathing=0.02,
        tilt=0.06,
        gain=0.08,
        gamma=0.06,
        bg_shift=2.0,
        tint=0.03,
        noise_sigma=2.5,
        blur_sigma=0.6,
    ),
    "replay": AttackSettings(
        source=_screen_device,
        frames=_replay_frames,
        media=tuple(_SCREENS),
        margin=8,
        shift=0.025,
        angle=3.0,
        breathing=0.015,
        tilt=0.05,
        gain=0.06,
        gamma=0.05,
        bg_shift=2.0,
        tint=0.03,
        noise_sigma=3.0,
        blur_sigma=0.5,
    ),
}
if tuple(ATTACKS) != KINDS:  # one entry per attack type, in SiW's type-id order
    raise RuntimeError(f"ATTACKS has {tuple(ATTACKS)}, AttackType has {KINDS}: keep them one per type, in order")


def _one_of(media: tuple[int, ...]) -> str:
    return " or ".join(str(m) for m in media) if len(media) == 2 else f"one of {sorted(media)}"


def render_video(
    photo: FacePhoto,
    *,
    kind: str,
    n_frames: int,
    rng: np.random.Generator,
    fps: float = DEFAULT_FPS,
    frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
    medium: int = 1,
    leave_frame: bool = False,
    capture: Capture | None = None,
) -> Iterator[RenderedFrame]:
    """Frames of one video of `kind` ('live', 'print' or 'replay'), rendered lazily.

    Args:
        photo: the real face to film.
        kind: a key of `ATTACKS`.
        n_frames: frames to render (>= 1).
        rng: the only source of randomness; the same state renders the same frames.
        fps: frames per second (> 0), for the speed of the motion.
        frame_size: (width, height) of a frame.
        medium: the print quality (1, 2) or the replay device (1..4); ignored for live.
        leave_frame: (live only) the face leaves the frame in the second half.
        capture: the room, framing and camera, the same for every kind (see `Capture`); None: each
            kind's own (`ATTACKS`), which leaves non-liveness differences between kinds.

    Returns:
        An iterator of `RenderedFrame`s; nothing is drawn from `rng` before the first.

    Raises:
        UsageError: a bad kind, frame count, fps, medium, or `leave_frame` for an attack.
    """
    require(kind in KINDS, f"kind must be one of {KINDS}, got {kind!r}")
    require(n_frames >= 1, f"n_frames must be >= 1, got {n_frames}")
    require(fps > 0, f"fps must be > 0, got {fps}")
    require(not leave_frame or kind == "live", f"leave_frame is only supported for live videos, got kind={kind!r}")
    log.debug("rendering %s video of %s: %d frames, medium %d", kind, photo.name, n_frames, medium)
    settings = ATTACKS[kind]
    media = settings.media
    require(media is None or medium in media, f"{kind} medium must be {_one_of(media or ())}, got {medium}")
    return _render(
        photo,
        settings,
        rng=rng,
        n_frames=n_frames,
        fps=fps,
        frame_size=frame_size,
        medium=medium,
        leave_frame=leave_frame,
        capture=capture,
    )


def _render(photo: FacePhoto, settings: AttackSettings, **video) -> Iterator[RenderedFrame]:
    scene = _set_up(photo, settings, **video)
    yield from settings.frames(scene)
