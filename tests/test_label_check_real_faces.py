"""The label check on real faces with planted errors: precision and recall of the verdict.

The shipped face photos (8 people), each augmented several times as the photo registry does
(mirror, brightness, rotation, scale), go through real MTCNN, alignment and dlib vectors
once. Then, for every ordered pair of people (A, B), a registry of 3 (and of 5) photos a
user gets one more photo of A filed under B. The verdict must name that photo as the top
suspect and flag nothing else: no genuine photo of B (filed with it) nor of A (its true
person) -- the faces the notes' rule drags in, which the test also shows.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from etl.identity.search import FaceVectors, label_checks

AUGMENTATIONS = 6  # per person: up to 5 filed under their own user, 1 spare to misfile


@pytest.fixture(scope="module")
def real_vectors() -> tuple[np.ndarray, np.ndarray]:
    """(vectors, person index) of AUGMENTATIONS augmented photos of each shipped face."""
    from etl.config import DetectorConfig
    from etl.embed.backends import EmbedderConfig, build_embedder
    from etl.faces.align import align_face
    from etl.faces.detect import build_detector
    from etl.synthetic.face_photos import load_face_photos
    from etl.synthetic.photo_registry import augment

    rng = np.random.default_rng(11)
    detector, embedder = build_detector(DetectorConfig()), build_embedder(EmbedderConfig())
    aligned, person_of = [], []
    for person, photo in enumerate(load_face_photos()):
        for _ in range(AUGMENTATIONS):
            image = augment(photo, rng, scale=float(rng.uniform(0.85, 1.15)))
            best = max(detector([image], min_face_size=40)[0], key=lambda face: face.score)
            aligned.append(align_face(image, best.landmarks))
            person_of.append(person)
    return embedder(aligned), np.array(person_of)


def _registry_with_one_misfiled_photo(x, person_of, per_user: int, true_person: int, filed_under: int):
    keys, identities, rows = [], [], []
    for person in range(person_of.max() + 1):
        for k, row in enumerate(np.flatnonzero(person_of == person)[:per_user]):
            keys.append(f"user_{person}/{k}")
            identities.append(f"user_{person}")
            rows.append(row)
    keys.append(f"user_{filed_under}/misfiled")
    identities.append(f"user_{filed_under}")
    rows.append(np.flatnonzero(person_of == true_person)[AUGMENTATIONS - 1])  # never among the user's own
    return FaceVectors(keys, identities, x[rows]), keys[-1]


@pytest.mark.parametrize("per_user", [3, 5])
def test_every_planted_misfile_is_the_only_suspect(real_vectors, per_user):
    x, person_of = real_vectors
    people = int(person_of.max()) + 1
    assert people == 8
    cases = flagged = planted_flagged = top_right = 0
    dragged_cases = 0  # cases where the notes' rule flags a genuine photo of A or B
    for true_person, filed_under in itertools.permutations(range(people), 2):
        faces, planted = _registry_with_one_misfiled_photo(x, person_of, per_user, true_person, filed_under)
        checks = label_checks(faces)
        cases += 1
        suspects = [c.key for c in checks if c.suspect]
        flagged += len(suspects)
        planted_flagged += planted in suspects
        scored = [c for c in checks if c.suspect_score is not None]
        top_right += max(scored, key=lambda c: c.suspect_score).key == planted
        victims = (f"user_{true_person}/", f"user_{filed_under}/")
        dragged_cases += any(c.face_suspect and c.key != planted and c.key.startswith(victims) for c in checks)
    precision, recall = planted_flagged / flagged, planted_flagged / cases
    assert (cases, top_right, precision, recall) == (56, 56, 1.0, 1.0)
    # the notes' rule, on the same registries, flags genuine photos of the two people in most cases
    assert dragged_cases >= 50
