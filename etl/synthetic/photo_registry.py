"""A registration photo tree `<root>/<user>/*.jpg` made from the real face photos.

Every user gets augmented photos of one real person (mirror, brightness, a small
rotation, scale, JPEG re-encoding). Planted on request, with the truth written to
`registry_manifest.json`:
- `duplicate`: one person registered a second time under another user name;
- `mislabeled`: a photo of one person filed under another user;
- always: a photo with no face (`none`), a group photo (`multi`) and a photo whose face
  is too small for the first detector pass but found by the second (`second_pass`).
Output is byte-identical for a given seed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from etl.errors import UsageError
from etl.synthetic.face_photos import FacePhoto, insightface_images_dir, load_face_photos
from schemas.vocabulary import PhotoRoute

log = logging.getLogger(f"facelake.{__name__}")

MANIFEST_NAME = "registry_manifest.json"
PHOTOS_PER_USER = 3
SMALL_FACE_PX = 22  # below the first pass's 40 px minimum (MTCNN boxes run taller), above the second pass's 20


@dataclass
class RegistryManifest:
    """What `write_photo_registry` wrote and planted, keyed by photo id `<user>/<name>.jpg`."""

    users: dict[str, str] = field(default_factory=dict)  # user -> real person
    photos: dict[str, str] = field(default_factory=dict)  # photo_id -> real person ("" when no single face)
    duplicate_users: list[str] = field(default_factory=list)  # the two users that are one person
    mislabeled: list[str] = field(default_factory=list)  # photo_ids filed under the wrong user
    routes: dict[str, str] = field(default_factory=dict)  # photo_id -> expected route
    second_pass: list[str] = field(default_factory=list)  # photo_ids only the second pass finds

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RegistryManifest":
        return cls(**json.loads(text))


def augment(photo: FacePhoto, rng: np.random.Generator, *, scale: float = 1.0) -> np.ndarray:
    """Mirror (half the time), brightness x[0.8, 1.2], rotation +-6 degrees about the face, then `scale`."""
    image = photo.image[:, ::-1] if rng.random() < 0.5 else photo.image
    height, width = image.shape[:2]
    centre = (width / 2.0, height / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, float(rng.uniform(-6.0, 6.0)), scale)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    matrix[:, 2] += (np.array(size) - np.array([width, height])) / 2.0
    rotated = cv2.warpAffine(
        np.ascontiguousarray(image),
        matrix,
        size,
        flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    gain = float(rng.uniform(0.8, 1.2))
    return np.clip(rotated.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8)


def _write_jpeg(path: Path, rgb: np.ndarray, quality: int) -> None:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.tobytes())


def _no_face_image(rng: np.random.Generator) -> np.ndarray:
    """A smooth colour gradient with noise: a photo of a wall, no face."""
    y, x = np.mgrid[0:240, 0:320].astype(np.float32)
    base = np.stack([x / 320 * 200 + 30, y / 240 * 150 + 50, (x + y) / 560 * 120 + 60], axis=-1)
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def _small_face_image(photo: FacePhoto) -> np.ndarray:
    """The photo scaled so its face is SMALL_FACE_PX wide, placed on a plain 200x200 canvas."""
    face_width = photo.face_box[2] - photo.face_box[0]
    scale = SMALL_FACE_PX / face_width
    small = cv2.resize(photo.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((200, 200, 3), 128, dtype=np.uint8)
    h, w = small.shape[:2]
    y0, x0 = (200 - h) // 2, (200 - w) // 2
    canvas[y0 : y0 + h, x0 : x0 + w] = small
    return canvas


def write_photo_registry(
    out_dir: Path | str, *, seed: int = 0, duplicate: bool = True, mislabeled: bool = False
) -> RegistryManifest:
    """Write the tree under `out_dir` and return its manifest.

    Args:
        out_dir: a new or empty folder, or a previous registry (replaced).
        seed: the same seed writes the same bytes.
        duplicate: register one person a second time under another user name.
        mislabeled: also file one person's photo under another user.

    Raises:
        UsageError: `out_dir` holds files that are not a photo registry (nothing is written).
    """
    out_dir = Path(out_dir)
    if (
        out_dir.exists()
        and any(p.name != MANIFEST_NAME for p in out_dir.rglob("*") if p.is_file())
        and not (out_dir / MANIFEST_NAME).is_file()
    ):
        raise UsageError(f"{out_dir} holds files that are not a photo registry; pass a new folder")
    for old in sorted(out_dir.rglob("*"), key=lambda p: -len(p.parts)) if out_dir.exists() else []:
        old.unlink() if old.is_file() else old.rmdir()
    rng = np.random.default_rng(seed)
    people = load_face_photos()
    manifest = RegistryManifest()
    users = [(f"user_{i + 1:02d}", person) for i, person in enumerate(people)]
    if duplicate:
        users.append(("user_09", people[2]))  # t1_face3 again, under another name
        manifest.duplicate_users = ["user_03", "user_09"]
    for user, person in users:
        manifest.users[user] = person.name
        for k in range(PHOTOS_PER_USER):
            photo_id = f"{user}/{k + 1:02d}.jpg"
            scale = float(rng.uniform(0.85, 1.15))
            _write_jpeg(out_dir / photo_id, augment(person, rng, scale=scale), int(rng.integers(70, 95)))
            manifest.photos[photo_id] = person.name
            manifest.routes[photo_id] = PhotoRoute.SINGLE
    if mislabeled:
        photo_id = "user_02/99.jpg"  # person 5 (t1_face5) filed under user_02 (t1_face2)
        _write_jpeg(out_dir / photo_id, augment(people[4], rng), 85)
        manifest.photos[photo_id] = people[4].name
        manifest.routes[photo_id] = PhotoRoute.SINGLE
        manifest.mislabeled = [photo_id]
    # planted routes
    _write_jpeg(out_dir / "user_01" / "wall.jpg", _no_face_image(rng), 90)
    manifest.photos["user_01/wall.jpg"], manifest.routes["user_01/wall.jpg"] = "", PhotoRoute.NONE
    group = cv2.cvtColor(cv2.imread(str(insightface_images_dir() / "t1.jpg")), cv2.COLOR_BGR2RGB)
    _write_jpeg(out_dir / "user_04" / "group.jpg", group, 90)
    manifest.photos["user_04/group.jpg"], manifest.routes["user_04/group.jpg"] = "", PhotoRoute.MULTI
    _write_jpeg(out_dir / "user_07" / "small.jpg", _small_face_image(people[6]), 95)
    manifest.photos["user_07/small.jpg"], manifest.routes["user_07/small.jpg"] = people[6].name, PhotoRoute.SINGLE
    manifest.second_pass = ["user_07/small.jpg"]
    (out_dir / MANIFEST_NAME).write_text(manifest.to_json())
    log.info("wrote %d photos of %d users to %s", len(manifest.photos), len(manifest.users), out_dir)
    return manifest
