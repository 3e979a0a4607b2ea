"""The face of each frame of one video: ONet alone where the face is known, the full cascade otherwise.

MTCNN's cascade (a PNet pyramid, RNet, ONet) searches a region for faces. In a video the region
already says where the face is: the previous frame's face, or the `.face` box. There, MTCNN's last
stage alone (ONet, on a 48x48 cut of that box; etl/faces/onet_refine.py) gives the refined box, the
score and the five landmarks, for a fraction of the cascade's time.

Frames are taken in order, a chunk at a time (`locate`), and each is found by one of:
- the full cascade (`locate_faces`: the `.face` region, then the whole frame), on
  - every `cascade_every`-th frame of the video, the first included: a guard, so a followed face
    cannot drift for long and every video starts from a real search;
  - every frame ONet alone does not accept;
- ONet alone on the previous frame's face (`onet_track`), or, when the previous frame has none,
  on the frame's `.face` box mapped onto the detector's box by the video's last detection
  (`onet_face_box`: SiW's boxes come from another detector, with their own margins).
ONet's face is accepted only when it is `ok` (score at least `accept_score`, size at least
`min_face_size`), its box overlaps the box it was given by `onet_min_iou` (IoU), and it agrees with
the frame's `.face` box when there is one (the same IoU with the mapped box; before a mapping
exists, its centre inside the region the cascade would search). A face that leaves, a `.face` box
that lies, a score that drops: each sends the frame to the cascade, which then finds what the
cascade alone would have found.

The cascade runs in two batches per chunk: the guard frames first (so the frames after a guard
can follow its face), then the frames ONet gave up on.
"""

from __future__ import annotations

import numpy as np

from etl.config import DetectorConfig
from etl.faces.detect import Face, FaceDetector
from etl.faces.locate import Located, locate_faces
from etl.faces.onet_refine import OnetRefiner, square_box
from schemas.vocabulary import DetSource


def box_iou(a, b) -> float:
    ax1, ay1, ax2, ay2 = (float(v) for v in a)
    bx1, by1, bx2, by2 = (float(v) for v in b)
    width, height = min(ax2, bx2) - max(ax1, bx1), min(ay2, by2) - max(ay1, by1)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter)


class FaceBoxMapping:
    """Where the detector's box lies relative to a `.face` box, in units of the `.face` box's side."""

    def __init__(self, face_box, det_box) -> None:
        x1, y1, side = _origin_and_side(face_box)
        self.relative = (np.asarray(det_box, dtype=np.float64) - [x1, y1, x1, y1]) / side

    def apply(self, face_box) -> np.ndarray:
        x1, y1, side = _origin_and_side(face_box)
        return self.relative * side + [x1, y1, x1, y1]


def _origin_and_side(box) -> tuple[float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return x1, y1, max(x2 - x1, y2 - y1, 1.0)


class VideoFaceLocator:
    """Locates the faces of one video's frames, in order; holds what it followed between chunks."""

    def __init__(self, detector: FaceDetector, config: DetectorConfig, refiner: OnetRefiner | None) -> None:
        self._detector, self._config = detector, config
        # ONet alone only where the cascade is MTCNN's: its ONet is the one it refines with
        self._refiner = refiner if config.onet_tracking and detector.name == "mtcnn" else None
        self._seen = 0  # frames of this video located so far
        self._previous: Face | None = None  # the last frame's accepted face
        self._mapping: FaceBoxMapping | None = None

    def locate(self, frames: list[np.ndarray], boxes: list) -> list[Located]:
        """The best face of each frame; `boxes[i]`: frame i's `.face` box (clipped to it) or None."""
        if self._refiner is None:
            return locate_faces(frames, boxes, self._detector, self._config)
        results: list[Located | None] = [None] * len(frames)
        guards = {i for i in range(len(frames)) if (self._seen + i) % self._config.cascade_every == 0}
        self._cascade(sorted(guards), frames, boxes, results)
        for i, (frame, box) in enumerate(zip(frames, boxes)):
            if i not in guards:
                results[i] = self._onet(frame, box)
            self._follow(results[i], box)
        # the cascade's finds on these frames are not followed (the frames after them were located already), not
        # even at the chunk's end: what is found must not depend on where chunks end
        self._cascade([i for i, found in enumerate(results) if found is None], frames, boxes, results)
        self._seen += len(frames)
        return results

    def _cascade(self, indices: list[int], frames: list[np.ndarray], boxes: list, results: list) -> None:
        if indices:
            found = locate_faces(
                [frames[i] for i in indices], [boxes[i] for i in indices], self._detector, self._config
            )
            for i, located in zip(indices, found):
                results[i] = located

    def _accepted(self, face: Face | None) -> bool:
        return face is not None and face.score >= self._config.accept_score and face.size >= self._config.min_face_size

    def _follow(self, located: Located | None, box) -> None:
        """Remember the frame's face for the next frame (none unless accepted)."""
        face = located.face if located is not None else None
        if not self._accepted(face):
            self._previous = None
            return
        self._previous = face
        if box is not None:
            self._mapping = FaceBoxMapping(box, face.box)

    def _onet(self, frame: np.ndarray, box) -> Located | None:
        """ONet alone on the frame's candidate box; None: the frame needs the cascade."""
        if self._previous is not None:
            expected, source = self._previous.box, DetSource.ONET_TRACK
        elif self._mapping is not None and box is not None:
            expected, source = self._mapping.apply(box), DetSource.ONET_FACE_BOX
        else:
            return None
        config = self._config
        face = self._refiner.refine(
            frame,
            square_box(expected),
            box if box is not None else expected,
            margin=config.roi_margin,
            size=config.roi_size,
        )
        if not self._accepted(face) or box_iou(face.box, expected) < config.onet_min_iou:
            return None
        if box is not None and not self._agrees(face, box):
            return None
        return Located(face, source)

    def _agrees(self, face: Face, box) -> bool:
        """Whether ONet's face is where the frame's `.face` box says the face is."""
        if self._mapping is not None:
            return box_iou(face.box, self._mapping.apply(box)) >= self._config.onet_min_iou
        x1, y1, x2, y2 = (float(v) for v in box)
        grow = self._config.roi_margin * max(x2 - x1, y2 - y1)
        centre_x, centre_y = (face.box[0] + face.box[2]) / 2.0, (face.box[1] + face.box[3]) / 2.0
        return x1 - grow <= centre_x <= x2 + grow and y1 - grow <= centre_y <= y2 + grow
