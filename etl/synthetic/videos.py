"""Render synthetic SiW-like frames (live, print attack, replay attack) from a real face photo.

Every renderer builds a static *source* texture (the photo, a printed sheet, or a
phone/tablet showing the photo) with an alpha mask and the face box in source
pixels, then moves it over a background with a per-frame projective transform.
The face box of a frame is computed from that same transform (the bounding box of
the transformed face-box corners, clipped to the frame), so the ground truth is
exact by construction.

All randomness comes from the `numpy.random.Generator` passed in; nothing reads
the clock or the global RNG, so the same generator state renders the same frames.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from etl.synthetic.face_photos import FacePhoto, extend_border

log = logging.getLogger(f"facelake.{__name__}")

Box = tuple[int, int, int, int]
KINDS = ("live", "print", "replay")
DEFAULT_FRAME_SIZE = (640, 480)  # (width, height)
DEFAULT_FPS = 30
# A face box with less than this share of its area inside the frame counts as "no face".
MIN_VISIBLE = 0.3
# Target face-box width as a share of min(W, 4/3 H): 0.19..0.22 of 640 px = 122..141 px,
# so that with breathing and +-6 deg rotation the box stays within ~110..170 px.
FACE_WIDTH_SHARE = (0.19, 0.22)


@dataclass(frozen=True)
class RenderedFrame:
    """One frame (RGB uint8, HxWx3) and the face box in frame pixels, None if out of view."""

    image: np.ndarray
    face_box: Box | None


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


def _background(rng: np.random.Generator, *, frame_size: tuple[int, int], margin: int) -> np.ndarray:
    """A smooth, slightly textured indoor-like background, `margin` px larger per side.

    Two muted colours in a gradient, low-frequency blotches (walls, furniture out of
    focus) and fine grain; float32 RGB in 0..255.
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
    img = img + blotches + 6.0 * grain[..., None]
    return np.clip(img, 0, 255).astype(np.float32)


def _warp(src: np.ndarray, homography: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    return cv2.warpPerspective(
        src, homography, frame_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def _rigid_pose(
    m: "_Motion",
    i: int,
    *,
    anchor,
    home,
    base_scale: float,
    background: np.ndarray,
    margin: int,
    frame_size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Frame i of a rigidly moving flat object (a sheet, a device): its homography, and the
    background window seen behind it (the background drifts a little by itself)."""
    width, height = frame_size
    center = (home[0] + m.dx[i], home[1] + m.dy[i])
    tilt = (float(m.tilt_x[i]), float(m.tilt_y[i]))
    hom = placement(anchor=anchor, center=center, angle_deg=float(m.angle[i]), scale=base_scale * m.scale[i], tilt=tilt)
    bx, by = margin + int(round(m.bg_dx[i])), margin + int(round(m.bg_dy[i]))
    return hom, background[by : by + height, bx : bx + width]


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


def _face_center(photo: FacePhoto) -> tuple[float, float]:
    x1, y1, x2, y2 = photo.face_box[:4]
    return (x1 + x2) / 2.0, (y1 + y2) / 2.0


def _target_face_width(rng: np.random.Generator, frame_size: tuple[int, int]) -> float:
    ref = min(frame_size[0], frame_size[1] * 4.0 / 3.0)
    return float(rng.uniform(*FACE_WIDTH_SHARE) * ref)


def _feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)


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


def render_live(
    photo: FacePhoto,
    *,
    n_frames: int,
    rng: np.random.Generator,
    fps: float = DEFAULT_FPS,
    frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
    leave_frame: bool = False,
) -> Iterator[RenderedFrame]:
    """A live face: the photo's head composited on a background, moving naturally.

    Drift, +-6 deg rotation, scale breathing, lighting drift and sensor noise. With
    `leave_frame`, the face slides out sideways in the second half of the video
    (starting at frame n//2, gone about 0.3 n frames later) and stays out.
    """
    width, height = frame_size
    margin = 16
    background = _background(rng, frame_size=frame_size, margin=margin)
    fx1, _, fx2, _ = photo.face_box[:4]
    base_scale = _target_face_width(rng, frame_size) / (fx2 - fx1)
    m = _motion(
        rng,
        n_frames=n_frames,
        fps=fps,
        shift=0.045 * width,
        angle=6.0,
        breathing=0.035,
        tilt=0.0,
        gain=0.1,
        gamma=0.08,
        bg_shift=4.0,
    )
    tint = 1.0 + rng.uniform(-0.04, 0.04, size=3)
    home = (width * rng.uniform(0.45, 0.55), height * rng.uniform(0.44, 0.52))
    exit_dx = _exit_offsets(rng, n_frames=n_frames, photo=photo, scale=base_scale, home_x=home[0], width=width)
    texture = photo.image.astype(np.float32)
    alpha = _head_mask(photo)
    anchor = _face_center(photo)
    for i in range(n_frames):
        center = (home[0] + m.dx[i] + (exit_dx[i] if leave_frame else 0.0), home[1] + m.dy[i])
        hom = placement(anchor=anchor, center=center, angle_deg=float(m.angle[i]), scale=base_scale * m.scale[i])
        bx, by = margin + int(round(m.bg_dx[i])), margin + int(round(m.bg_dy[i]))
        bg = background[by : by + height, bx : bx + width]
        frame = _composite(bg, texture=texture, alpha=alpha, homography=hom, frame_size=frame_size)
        image = _finish(frame, rng, gain=float(m.gain[i]), gamma=float(m.gamma[i]), tint=tint, noise_sigma=2.5)
        yield RenderedFrame(image=image, face_box=project_box(photo.face_box, homography=hom, frame_size=frame_size))


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


def _print_sheet(
    photo: FacePhoto, rng: np.random.Generator, *, medium: int
) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    """A sheet of paper with the photo printed on it.

    Returns (texture float32 RGB 0..255, alpha float32, face box in sheet pixels).
    Medium 1 is a fine screen with stronger dots; medium 2 a coarser screen with
    fainter dots and flatter colours.
    """
    up = 2.0  # sheet pixels per photo pixel: room for halftone dots finer than the face
    # (halftone period in sheet px, contrast, saturation, share of dots in the tone)
    period, contrast, saturation, dot_weight = (4.0, 0.80, 0.72, 0.5) if medium == 1 else (5.0, 0.78, 0.62, 0.4)
    img = cv2.resize(photo.image, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0
    grey = img.mean(axis=2, keepdims=True)
    img = grey + saturation * (img - grey)  # reduced colour gamut
    img = 0.1 + contrast * img  # ink never reaches black, paper never glares
    img = _halftone(np.clip(img, 0, 1), period=period, dot_weight=dot_weight)
    paper = np.array([0.95, 0.94, 0.90], dtype=np.float32) * rng.uniform(0.97, 1.0)
    img = img * paper
    ph, pw = img.shape[:2]
    left = int(0.12 * pw)
    top = int(0.10 * ph)
    bottom = int(0.22 * ph)
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
    return np.clip(sheet * 255.0, 0, 255), alpha, box


def render_print(
    photo: FacePhoto,
    *,
    n_frames: int,
    rng: np.random.Generator,
    fps: float = DEFAULT_FPS,
    frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
    medium: int = 1,
) -> Iterator[RenderedFrame]:
    """A print attack: the photo printed on paper, held in front of the camera.

    Halftone dots, lower contrast and gamut, a visible paper edge and a soft shadow;
    the sheet moves rigidly with a slight perspective wobble, under a light gradient.
    """
    width, height = frame_size
    margin = 8
    background = _background(rng, frame_size=frame_size, margin=margin)
    texture, alpha, box = _print_sheet(photo, rng, medium=medium)
    base_scale = _target_face_width(rng, frame_size) / (box[2] - box[0])
    sheet_half = max(texture.shape[:2]) / 2.0  # tilt is per source (sheet) pixel
    m = _motion(
        rng,
        n_frames=n_frames,
        fps=fps,
        shift=0.03 * width,
        angle=4.0,
        breathing=0.02,
        tilt=0.06 / max(sheet_half, 1.0),
        gain=0.08,
        gamma=0.06,
        bg_shift=2.0,
    )
    tint = 1.0 + rng.uniform(-0.03, 0.03, size=3)
    home = (width * rng.uniform(0.45, 0.55), height * rng.uniform(0.44, 0.52))
    shadow_offset = rng.uniform(4, 10, size=2)
    light_angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    light_dir = (xx * math.cos(light_angle) + yy * math.sin(light_angle)) / max(width, height)
    anchor = ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)
    for i in range(n_frames):
        hom, bg = _rigid_pose(
            m,
            i,
            anchor=anchor,
            home=home,
            base_scale=base_scale,
            background=background,
            margin=margin,
            frame_size=frame_size,
        )
        # Soft shadow of the sheet on the background (held a little in front of it).
        shadow_hom = np.array([[1, 0, shadow_offset[0]], [0, 1, shadow_offset[1]], [0, 0, 1]]) @ hom
        shadow = _feather(_warp(alpha, shadow_hom, frame_size), 6.0)
        bg = bg * (1.0 - 0.35 * shadow[..., None])
        sheet_a = _warp(alpha, hom, frame_size)[..., None]
        fg = _warp(texture, hom, frame_size)
        # Uneven light on the paper, changing as the sheet moves.
        shading = 1.0 + 0.12 * (light_dir - 0.5 + 0.3 * math.sin(i / max(fps, 1) * 1.7))
        frame = bg * (1.0 - sheet_a) + fg * shading[..., None] * sheet_a
        image = _finish(
            frame, rng, gain=float(m.gain[i]), gamma=float(m.gamma[i]), tint=tint, noise_sigma=2.5, blur_sigma=0.6
        )
        yield RenderedFrame(image=image, face_box=project_box(box, homography=hom, frame_size=frame_size))


# ---------------------------------------------------------------------- replay

# Replay devices per SiW medium id (1..4): display aspect (w/h), colour cast (RGB gains).
_SCREENS: dict[int, tuple[float, tuple[float, float, float]]] = {
    1: (4.0 / 3.0, (0.94, 0.98, 1.08)),  # tablet, landscape, cool
    2: (9.0 / 16.0, (0.97, 1.00, 1.06)),  # phone, portrait
    3: (9.0 / 16.0, (1.05, 0.98, 0.94)),  # phone, portrait, warm
    4: (16.0 / 9.0, (0.95, 1.02, 1.03)),  # monitor, landscape
}


def _screen_device(
    photo: FacePhoto, *, medium: int
) -> tuple[np.ndarray, np.ndarray, tuple[float, ...], tuple[int, int, int, int]]:
    """The photo shown on a device's display, in device pixels.

    Returns (display content float32 RGB 0..255 of the display area only, device
    alpha, face box in device pixels, display rectangle (x, y, w, h) in the device).
    The display shows a region around the face; where that region leaves the
    photo, the photo's border is extended (blurred), like a video with background.
    """
    aspect, _ = _SCREENS[medium]
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
    return content.astype(np.float32), alpha.astype(np.float32) / 255.0, box, (bezel_side, bezel_end, disp_w, disp_h)


def render_replay(
    photo: FacePhoto,
    *,
    n_frames: int,
    rng: np.random.Generator,
    fps: float = DEFAULT_FPS,
    frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
    medium: int = 1,
) -> Iterator[RenderedFrame]:
    """A replay attack: the face on a phone/tablet/monitor held in front of the camera.

    Dark bezel, sub-pixel grid and moire bands, rolling horizontal banding and
    scanlines, a glare gradient, raised black level and a colour cast per device;
    the device moves rigidly and slightly.
    """
    if medium not in _SCREENS:
        raise ValueError(f"replay medium must be one of {sorted(_SCREENS)}, got {medium}")
    width, height = frame_size
    margin = 8
    background = _background(rng, frame_size=frame_size, margin=margin)
    content, alpha, box, (dx0, dy0, dw, dh) = _screen_device(photo, medium=medium)
    cast = np.array(_SCREENS[medium][1], dtype=np.float32)
    base_scale = _target_face_width(rng, frame_size) / (box[2] - box[0])
    dev_half = max(alpha.shape) / 2.0  # tilt is per source (device) pixel
    m = _motion(
        rng,
        n_frames=n_frames,
        fps=fps,
        shift=0.025 * width,
        angle=3.0,
        breathing=0.015,
        tilt=0.05 / max(dev_half, 1.0),
        gain=0.06,
        gamma=0.05,
        bg_shift=2.0,
    )
    tint = 1.0 + rng.uniform(-0.03, 0.03, size=3)
    home = (width * rng.uniform(0.45, 0.55), height * rng.uniform(0.44, 0.52))
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
    glare_pos = rng.uniform(-0.2, 0.4) + _smooth(rng, n_frames=n_frames, fps=fps, amplitude=0.15)
    band_speed = rng.uniform(0.4, 1.2) * dh  # rolling band, display px per second
    shown = content * cast * 0.92 + 12.0  # colour cast; an LCD's black is not black
    device = np.empty((alpha.shape[0], alpha.shape[1], 3), dtype=np.float32)
    bezel = np.array([20.0, 20.0, 23.0], dtype=np.float32) * rng.uniform(0.8, 1.3)
    anchor = ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)
    for i in range(n_frames):
        t = i / fps
        moire = 1.0 + 0.07 * np.cos(2 * math.pi * moire_base + 1.3 * t)
        band_y = (band_speed * t) % dh
        band = 1.0 - 0.08 * np.exp(-(((yy - band_y) / (0.08 * dh)) ** 2))
        glare = 70.0 * np.exp(-(((glare_axis - glare_pos[i]) / 0.25) ** 2))
        display = shown * subpixel * scanlines * (moire * band)[..., None] + glare[..., None]
        device[:] = bezel
        device[dy0 : dy0 + dh, dx0 : dx0 + dw] = display
        hom, bg = _rigid_pose(
            m,
            i,
            anchor=anchor,
            home=home,
            base_scale=base_scale,
            background=background,
            margin=margin,
            frame_size=frame_size,
        )
        frame = _composite(bg, texture=device, alpha=alpha, homography=hom, frame_size=frame_size)
        image = _finish(
            frame, rng, gain=float(m.gain[i]), gamma=float(m.gamma[i]), tint=tint, noise_sigma=3.0, blur_sigma=0.5
        )
        yield RenderedFrame(image=image, face_box=project_box(box, homography=hom, frame_size=frame_size))


# --------------------------------------------------------------------- dispatch


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
) -> Iterator[RenderedFrame]:
    """Frames of one video of `kind` ('live', 'print' or 'replay').

    `medium` selects the print quality (1, 2) or the replay device (1..4);
    `leave_frame` (live only) makes the face leave the frame in the second half.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if leave_frame and kind != "live":
        raise ValueError(f"leave_frame is only supported for live videos, got kind={kind!r}")
    log.debug("rendering %s video of %s: %d frames, medium %d", kind, photo.name, n_frames, medium)
    if kind == "live":
        return render_live(photo, n_frames=n_frames, rng=rng, fps=fps, frame_size=frame_size, leave_frame=leave_frame)
    if kind == "print":
        if medium not in (1, 2):
            raise ValueError(f"print medium must be 1 or 2, got {medium}")
        return render_print(photo, n_frames=n_frames, rng=rng, fps=fps, frame_size=frame_size, medium=medium)
    if medium not in _SCREENS:
        raise ValueError(f"replay medium must be one of {sorted(_SCREENS)}, got {medium}")
    return render_replay(photo, n_frames=n_frames, rng=rng, fps=fps, frame_size=frame_size, medium=medium)
