"""Face-vector cases for the dedup benchmark: easy random vectors and two kinds of hard negatives.

* `random`: random unit "person" vectors (512-d); a face is normalise(person + s r), so
  two faces of one person have cosine ~0.75 and two people ~0 -- far from the 0.7
  threshold on both sides.
* `clusters`: look-alike families (512-d). Identities come in families of
  FAMILY_SIZE whose centres are drawn around a common family centre, so that the faces
  of two siblings have a typical cosine drawn per family in SIBLING_FACE_COSINE and the
  highest face pair of nearest-neighbour identities falls around 0.55-0.75: across the
  0.7 threshold, with chains (a~b, b~c, not a~c) that a greedy merge splits.
* `dlib`: real dlib 128-d descriptors (etl.embed.backends, `dlib_resnet_v1`) of the face
  photos shipped in installed packages (insightface's t1.jpg faces, Tom_Hanks_54745.png,
  scikit-image's astronaut), each person registered under USERS_PER_PERSON user names,
  every face an augmented photo (flip, rotation, crop, brightness, blur, JPEG) aligned
  by its transformed landmarks. Different people in t1.jpg come within a few hundredths
  of dlib's max-linkage threshold (0.93), and blurred or low-quality photos can cross it.

Every case plants duplicates: identities that are one person under two names (random,
clusters: --duplicates of them reuse another identity's centre with fresh faces; dlib:
every person's users). `Dataset.planted` holds those groups.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("bench.dedup_cases")

CHUNK_IDENTITIES = 4096
WITHIN_RANDOM = 0.75  # cosine of two faces of one person, random case
WITHIN_CLUSTERS = 0.80
FAMILY_SIZE = 3
SIBLING_FACE_COSINE = (0.52, 0.70)  # typical cosine of two siblings' faces, drawn per family
USERS_PER_PERSON = 3
FACES_PER_USER = 5


@dataclass
class Dataset:
    names: list[str]  # sorted
    starts: np.ndarray  # identity i owns rows starts[i]:starts[i + 1]
    x: np.ndarray  # (n, dim) float32, unit rows
    planted: set[frozenset[str]]


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def random_unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    return unit_rows(rng.standard_normal((n, dim), dtype=np.float32))


def _named(
    identities: int, centre_of: np.ndarray, duplicates: int, rng: np.random.Generator
) -> tuple[list[str], np.ndarray, set[frozenset[str]]]:
    """(sorted names, identity of each name, planted groups): identity i is called user<label[i]>,
    labels shuffled so a duplicate's name is far from its original's in sort order."""
    originals = identities - duplicates
    width = len(str(identities))
    label = rng.permutation(identities)
    by_name = np.argsort(label)
    name = lambda i: f"user{label[i]:0{width}d}"  # noqa: E731
    groups: dict[int, set[str]] = {}
    for i in range(originals, identities):
        groups.setdefault(int(centre_of[i]), {name(int(centre_of[i]))}).add(name(i))
    return [name(i) for i in by_name], by_name, {frozenset(g) for g in groups.values()}


def _faces_around(
    centres: np.ndarray, order: np.ndarray, faces: int, within: float, rng: np.random.Generator
) -> np.ndarray:
    """`faces` unit faces around each centre, identities in `order`: normalise(centre + s r),
    s chosen so two faces of one identity have cosine ~`within`. Float32 chunks: no float64
    copy of the data."""
    noise_scale = np.float32(math.sqrt(1.0 / within - 1.0))
    x = np.empty((len(order) * faces, centres.shape[1]), dtype=np.float32)
    for c0 in range(0, len(order), CHUNK_IDENTITIES):
        chunk = order[c0 : c0 + CHUNK_IDENTITIES]
        rows = np.repeat(centres[chunk], faces, axis=0) + noise_scale * random_unit(rng, len(chunk) * faces, x.shape[1])
        x[c0 * faces : (c0 + len(chunk)) * faces] = unit_rows(rows)
    return x


def _with_duplicates(originals: np.ndarray, duplicates: int, rng: np.random.Generator) -> np.ndarray:
    """Identity -> centre row: identities 0..n-1 own theirs, the duplicates reuse random originals'."""
    return np.concatenate([np.arange(len(originals)), rng.choice(len(originals), duplicates, replace=False)])


def random_case(identities: int, faces: int, dim: int, duplicates: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    persons = random_unit(rng, identities - duplicates, dim)
    centre_of = _with_duplicates(persons, duplicates, rng)
    names, order, planted = _named(identities, centre_of, duplicates, rng)
    x = _faces_around(persons, centre_of[order], faces, WITHIN_RANDOM, rng)
    return Dataset(names, np.arange(identities + 1) * faces, x, planted)


def cluster_centres(count: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Identity centres in families of FAMILY_SIZE: siblings at centre cosine b / WITHIN_CLUSTERS,
    b drawn per family in SIBLING_FACE_COSINE (two unit vectors f + t r_i have cosine 1 / (1 + t^2))."""
    families = -(-count // FAMILY_SIZE)
    family_centre = random_unit(rng, families, dim)
    sibling_cosine = rng.uniform(*SIBLING_FACE_COSINE, families) / WITHIN_CLUSTERS
    spread = np.sqrt(1.0 / sibling_cosine - 1.0).astype(np.float32)
    family = np.arange(count) // FAMILY_SIZE
    return unit_rows(family_centre[family] + spread[family, None] * random_unit(rng, count, dim))


def clusters_case(identities: int, faces: int, dim: int, duplicates: int, seed: int) -> Dataset:
    rng = np.random.default_rng([seed, 7])
    centres = cluster_centres(identities - duplicates, dim, rng)
    centre_of = _with_duplicates(centres, duplicates, rng)
    names, order, planted = _named(identities, centre_of, duplicates, rng)
    x = _faces_around(centres, centre_of[order], faces, WITHIN_CLUSTERS, rng)
    return Dataset(names, np.arange(identities + 1) * faces, x, planted)


# --- dlib vectors of real faces --------------------------------------------------------------


def augmented_face(photo, rng: np.random.Generator) -> np.ndarray:
    """One registration photo of `photo`'s person, aligned to 112x112: mirrored half the time,
    rotated +-8 degrees, cropped (scale 0.9-1.1, shift +-6 % of the face), brightness x0.7-1.3,
    Gaussian blur (sigma 0-1.6, none a third of the time), JPEG quality 30-95."""
    import cv2

    from etl.faces.align import align_face

    image, landmarks = photo.image, photo.landmarks.copy()
    height, width = image.shape[:2]
    if rng.random() < 0.5:
        image = image[:, ::-1]
        landmarks[:, 0] = width - 1 - landmarks[:, 0]
        landmarks = landmarks[[1, 0, 2, 4, 3]]  # image-left stays first
    face_side = float(photo.face_box[2] - photo.face_box[0])
    matrix = cv2.getRotationMatrix2D(
        tuple(landmarks.mean(axis=0)), float(rng.uniform(-8, 8)), float(rng.uniform(0.9, 1.1))
    )
    matrix[:, 2] += rng.uniform(-0.06, 0.06, 2) * face_side
    image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (width, height), borderMode=cv2.BORDER_REFLECT_101)
    landmarks = landmarks @ matrix[:, :2].T + matrix[:, 2]
    image = np.clip(image.astype(np.float32) * rng.uniform(0.7, 1.3) + 0.5, 0, 255).astype(np.uint8)
    if rng.random() > 1 / 3:
        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.3, 1.6)))
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 96))])
    if not ok:
        raise ValueError(f"could not JPEG-encode an augmented {photo.name}")
    image = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)
    return align_face(image, landmarks)


def embed_dlib_case(path: Path, seed: int) -> None:
    """The dlib case's vectors, computed once and saved to `path` (.npz) for the child processes."""
    from etl.embed.backends import EmbedderConfig, build_embedder
    from etl.synthetic.face_photos import load_face_photos

    rng = np.random.default_rng([seed, 9])
    photos = load_face_photos()
    names, people, faces = [], [], []
    for p, photo in enumerate(photos):
        for u in range(USERS_PER_PERSON):
            names.append(f"{photo.name}_u{u}")
            people.append(p)
            faces += [augmented_face(photo, rng) for _ in range(FACES_PER_USER)]
    vectors = build_embedder(EmbedderConfig(backend="dlib"))(faces)
    np.savez(path, names=np.array(names), people=np.array(people), x=vectors)
    log.info(
        "dlib case: %d people x %d users x %d faces embedded into %s",
        len(photos),
        USERS_PER_PERSON,
        FACES_PER_USER,
        path,
    )


def dlib_case(path: Path) -> Dataset:
    """The saved dlib vectors as a Dataset; users are planted as one group per person."""
    saved = np.load(path)
    names = [str(n) for n in saved["names"]]
    order = np.argsort(names)
    faces = len(saved["x"]) // len(names)
    rows = (order[:, None] * faces + np.arange(faces)).ravel()
    groups: dict[int, set[str]] = {}
    for name, person in zip(names, saved["people"].tolist(), strict=True):
        groups.setdefault(person, set()).add(name)
    return Dataset(
        [names[i] for i in order],
        np.arange(len(names) + 1) * faces,
        np.ascontiguousarray(saved["x"][rows], dtype=np.float32),
        {frozenset(g) for g in groups.values()},
    )
