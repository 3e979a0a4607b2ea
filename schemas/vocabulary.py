"""Every closed set of words the tables store or the configs accept, declared once.

Each is a `StrEnum`: a member *is* its string (`VideoStatus.OK == "ok"`, written to Parquet as
"ok", printed as "ok"), so rows, SQL and JSON keep plain words while code names them
checkably. Row builders, configs, argument parsers (`choices=values(CropFormat)`) and the
queries' tests use these; a new word is added here first.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AttackType",
    "CropFormat",
    "DetSource",
    "DetStatus",
    "EmbeddingSource",
    "ErasureKind",
    "ErasureStatus",
    "FaceBoxSource",
    "IndexKind",
    "Label",
    "Linkage",
    "LrSchedule",
    "PhotoRoute",
    "PhotoStatus",
    "RunStatus",
    "VideoStatus",
    "values",
]


def values(vocabulary: type[StrEnum]) -> tuple[str, ...]:
    """The words of a vocabulary in declaration order, as plain strings (for `choices=`, messages, SQL)."""
    return tuple(member.value for member in vocabulary)


class VideoStatus(StrEnum):
    """`videos.status`: why a video has (or has no) frames."""

    OK = "ok"
    NO_FACE_FILE = "no_face_file"
    BAD_NAME = "bad_name"
    DUPLICATE_NAME = "duplicate_name"
    DUPLICATE_CONTENT = "duplicate_content"
    EMPTY_FILE = "empty_file"
    UNREADABLE = "unreadable"
    CORRUPT = "corrupt"
    ERROR = "error"


class DetStatus(StrEnum):
    """`frames.det_status`: what detection found on a frame."""

    OK = "ok"  # a face at or above the accept score, aligned
    NO_FACE = "no_face"  # the detector found none
    LOW_SCORE = "low_score"  # best face below the accept score


class DetSource(StrEnum):
    """`frames.det_source`: where the detector looked when it found the face, and how."""

    ROI = "roi"  # the full cascade on the frame's `.face` region
    FULL_FRAME = "full_frame"  # the full cascade on the whole frame
    ONET_TRACK = "onet_track"  # ONet alone on the previous frame's face (etl/faces/track.py)
    ONET_FACE_BOX = "onet_face_box"  # ONet alone on the `.face` box, mapped by the video's last detection


class FaceBoxSource(StrEnum):
    """`frames.face_box_source`: where the frame's `.face` box came from."""

    FACE_FILE = "face_file"
    REPAIRED = "repaired"
    ZERO_BOX = "zero_box"
    MISSING_LINE = "missing_line"
    UNPARSEABLE = "unparseable"
    INVALID_BOX = "invalid_box"
    NO_FACE_FILE = "no_face_file"


class PhotoStatus(StrEnum):
    """`photos.status`: whether a registry photo could be read."""

    OK = "ok"
    EMPTY_FILE = "empty_file"
    UNREADABLE = "unreadable"
    NOT_IMAGE = "not_image"
    BAD_NAME = "bad_name"
    ERROR = "error"


class PhotoRoute(StrEnum):
    """`photos.route` (status ok only): what detection found, as the notes' clean-up sorts photos."""

    SINGLE = "single"  # exactly one face: aligned, stored, embedded
    MULTI = "multi"
    NONE = "none"


class Label(StrEnum):
    LIVE = "live"
    SPOOF = "spoof"


class AttackType(StrEnum):
    """`videos.attack_type`: SiW's type id 1 / 2 / 3."""

    LIVE = "live"
    PRINT = "print"
    REPLAY = "replay"


class RunStatus(StrEnum):
    """`runs.status`."""

    RUNNING = "running"  # written at start; stays so if the driver died
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class ErasureKind(StrEnum):
    SUBJECT = "subject"
    USER = "user"


class ErasureStatus(StrEnum):
    ERASED = "erased"
    NOTHING_FOUND = "nothing_found"


class EmbeddingSource(StrEnum):
    FRAMES = "frames"
    PHOTOS = "photos"


class CropFormat(StrEnum):
    """`IngestConfig.crops`: whether and how the `.face`-box crop is stored beside the aligned face."""

    NONE = "none"
    JPEG = "jpeg"
    PNG = "png"


class Linkage(StrEnum):
    """`SearchConfig.linkage`: how two identities' faces make one similarity."""

    MAX = "max"
    CENTROID = "centroid"


class PairDecision(StrEnum):
    """`identity_pairs.decision`: what dedup did with a duplicate candidate pair."""

    MERGED = "merged"  # linked, and carried by at least min_faces faces of each identity
    REVIEW = "review"  # linked through too few faces (one misfiled photo looks like this): listed, not merged
    NOT_LINKED = "not_linked"  # a candidate the linkage rule did not link


class IndexKind(StrEnum):
    """`SearchConfig.index`: the FAISS index that finds candidate pairs."""

    FLAT = "flat"
    IVF = "ivf"
    HNSW = "hnsw"


class LrSchedule(StrEnum):
    """`TrainConfig.lr_schedule`."""

    PLATEAU = "plateau"
    COSINE = "cosine"


class P1ValidationFrames(StrEnum):
    """`TrainConfig.p1_validation_frames`: which frames of P1's validation subjects' videos validate."""

    SUBSET = "subset"  # the first p1_frames (60), as P1 trains
    ALL = "all"  # every frame, as bob.db.siw's dev set


class ScorePart(StrEnum):
    """`scores.part`: the protocol part a scored face belonged to for the model that scored it."""

    TRAIN = "train"  # the model learned from it
    VALIDATION = "validation"  # its threshold was chosen on it
    TEST = "test"  # held out by the protocol
    UNSEEN = "unseen"  # outside the protocol's parts, or ingested after the model's frames version
