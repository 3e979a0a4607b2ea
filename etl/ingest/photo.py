"""Detect, route and align the faces of registration photos (the body of a Ray task).

Routing follows the notes' clean-up: no face -> `none`, one -> `single` (aligned and
stored), more -> `multi` (kept for review). A photo with no face after the first
detector gets a second, more permissive pass when one is configured.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import cv2
import numpy as np
import pyarrow as pa

from etl.config import DetectorConfig, RegisterConfig
from etl.faces.align import align_face
from etl.faces.detect import Face, FaceDetector, cached_detector
from etl.faces.encode import encode_image
from etl.ingest.provenance import processing_node
from etl.sources.photo_tree import PhotoSource
from schemas import PHOTOS
from schemas.vocabulary import CropFormat, PhotoRoute, PhotoStatus

log = logging.getLogger(f"facelake.{__name__}")

MIN_PHOTO_SIDE = 12  # MTCNN's smallest input


def decode_photo(data: bytes) -> np.ndarray | None:
    """RGB pixels of JPEG/PNG bytes (alpha dropped, grey expanded), None when not an image."""
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def find_faces(rgb: np.ndarray, detector: FaceDetector, config: DetectorConfig) -> list[Face]:
    """Accepted faces (score and size thresholds), best first, in photo pixels."""
    height, width = rgb.shape[:2]
    scale = min(1.0, config.full_frame_max_side / max(height, width))
    image = (
        rgb
        if scale == 1.0
        else cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    )
    found = detector([np.ascontiguousarray(image)], min_face_size=max(12, int(config.min_face_size * scale)))[0]
    faces = [f.transformed(scale, 0.0, 0.0) for f in found]
    accepted = [f for f in faces if f.size >= config.min_face_size and f.score >= config.accept_score]
    return sorted(accepted, key=lambda f: -f.score)


def photo_row(photo: PhotoSource, *, run_id: str, config_hash: str, **values) -> dict:
    row = {name: None for name in PHOTOS.schema.names}
    row.update(
        photo_id=photo.photo_id,
        user=photo.user,
        source_root=photo.source_root,
        path=photo.rel_path,
        size_bytes=photo.size_bytes,
        fingerprint=photo.fingerprint,
        status=photo.status,
        status_reason=photo.status_reason,
        source_present=True,
        config_hash=config_hash,
        run_id=run_id,
        processed_at=datetime.now(timezone.utc),
    )
    row.update(values)
    return row


def process_photos(photos: list[PhotoSource], config: RegisterConfig, *, run_id: str) -> pa.Table:
    """One `photos` row per photo; a failure becomes that photo's status, never an exception."""
    rows = []
    here = processing_node()
    for photo in photos:
        try:
            rows.append(_process_one(photo, config, run_id))
        except Exception as error:  # noqa: BLE001 - recorded on the photo's row
            log.exception("photo %s failed", photo.photo_id)
            rows.append(
                photo_row(
                    photo,
                    run_id=run_id,
                    config_hash=config.processing_hash(),
                    status=PhotoStatus.ERROR,
                    status_reason=f"{type(error).__name__}: {error}",
                )
            )
        rows[-1]["processed_on"] = here
    return pa.Table.from_pylist(rows, schema=PHOTOS.schema)


def _process_one(photo: PhotoSource, config: RegisterConfig, run_id: str) -> dict:
    config_hash = config.processing_hash()
    try:
        data = photo.read_bytes()  # a local file, or the object's bytes straight from the store
    except OSError as error:
        return photo_row(
            photo,
            run_id=run_id,
            config_hash=config_hash,
            status=PhotoStatus.UNREADABLE,
            status_reason=f"cannot read the file: {error.strerror or error}",
        )
    rgb = decode_photo(data)
    if rgb is None:
        return photo_row(
            photo,
            run_id=run_id,
            config_hash=config_hash,
            status=PhotoStatus.NOT_IMAGE,
            status_reason="the bytes are not a JPEG or PNG image OpenCV can decode",
        )
    height, width = rgb.shape[:2]
    base = dict(status=PhotoStatus.OK, width=width, height=height)
    if min(height, width) < MIN_PHOTO_SIDE:
        return photo_row(
            photo,
            run_id=run_id,
            config_hash=config_hash,
            **base,
            route=PhotoRoute.NONE,
            n_faces=0,
            route_reason=f"the image is {width}x{height} px, too small to hold a face",
        )
    detector = cached_detector(config.detector)
    faces, detect_pass, used = find_faces(rgb, detector, config.detector), "first", detector
    if not faces and config.retry_detector is not None:
        retry = cached_detector(config.retry_detector)
        faces, detect_pass, used = find_faces(rgb, retry, config.retry_detector), "second", retry
    values = dict(
        base,
        n_faces=len(faces),
        detector=used.name,
        detector_version=used.version,
        face_boxes=[f.box.tolist() for f in faces],
        face_scores=[f.score for f in faces],
        detect_pass=detect_pass if faces else None,
    )
    if not faces:
        passes = "either detector pass" if config.retry_detector is not None else "the detector"
        return photo_row(
            photo,
            run_id=run_id,
            config_hash=config_hash,
            **values,
            route=PhotoRoute.NONE,
            route_reason=f"no face found by {passes}",
        )
    if len(faces) > 1:
        return photo_row(
            photo,
            run_id=run_id,
            config_hash=config_hash,
            **values,
            route=PhotoRoute.MULTI,
            route_reason=f"{len(faces)} faces found; review which one is the user",
        )
    face = faces[0]
    aligned = align_face(rgb, face.landmarks)
    return photo_row(
        photo,
        run_id=run_id,
        config_hash=config_hash,
        **values,
        route=PhotoRoute.SINGLE,
        route_reason=None if detect_pass == "first" else "found by the second detector pass",
        det_score=face.score,
        landmarks=face.landmarks.tolist(),
        aligned=encode_image(aligned, CropFormat.PNG),
    )
