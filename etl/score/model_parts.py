"""Which protocol part each face was in for a trained model: the model's own split, made again.

A model folder's metrics.json records its `train_id`, protocol, the frames version it read, its
validation subjects and frames, and its sharpness gate. `split_protocol` run on the frames index
at that version with those validation subjects gives exactly the rows the model trained on,
chose its threshold on, and was tested on. Every other face is `unseen` for it: outside the
protocol (P2.1's print videos), below its sharpness gate, or ingested after its frames version.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from etl.errors import UsageError
from etl.lake.lake import Lake
from etl.train.data import INDEX_COLUMNS, KEY
from etl.train.predict import METRICS_FILE, ModelFilesError
from etl.train.protocols import PARTS, Protocol, split_protocol
from schemas import FRAMES, TRAIN_RUNS
from schemas.vocabulary import DetStatus, P1ValidationFrames, ScorePart

log = logging.getLogger(f"facelake.{__name__}")

PARTS_SCHEMA = pa.schema(
    [pa.field("video_id", pa.string()), pa.field("frame_index", pa.int32()), ("part", pa.string())]
)


@dataclass(frozen=True)
class ScoringModel:
    """What a model folder says about the split it was trained on."""

    folder: Path
    train_id: str
    protocol: str  # P1, P2.3, ...
    frames_version: int | None
    validation_subjects: tuple[int, ...]
    validation_frames: str  # "all" or P1's "frame_index < 60"
    sharpness_gate: int | None  # training kept faces with sharpness_count >= this
    trained_here: bool  # this lake's train_runs holds train_id: its parts are this lake's faces

    @property
    def p1_validation_frames(self) -> str:
        return P1ValidationFrames.ALL if self.validation_frames == "all" else P1ValidationFrames.SUBSET


def protocol_of(label: str) -> Protocol:
    """`Protocol` of a label as train writes it: P1, P2.3, P3.1."""
    name, _, fold = label.lower().partition(".")
    try:
        return Protocol(name, int(fold) if fold else None)
    except ValueError as error:
        raise UsageError(f"protocol {label!r} in {METRICS_FILE} is not a SiW protocol: {error}") from error


def scoring_model(lake: Lake, folder: Path) -> ScoringModel:
    """The model folder's train run, found by metrics.json's `train_id` (facelake >= this version)
    or by the `train_runs` row whose `model_dir` is the folder.

    Raises:
        ModelFilesError: no readable metrics.json.
        UsageError: the folder names no train run and no train run of this lake wrote it.
    """
    path = folder / METRICS_FILE
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelFilesError(f"model folder {folder}: cannot read {path}: {error}") from error
    runs = lake.read(TRAIN_RUNS, columns=["train_id", "model_dir"]).to_pylist()
    train_id = metrics.get("train_id")
    if train_id is None:
        train_id = next((r["train_id"] for r in runs if r["model_dir"] == str(folder.resolve())), None)
    if train_id is None:
        raise UsageError(
            f"model folder {folder}: its {METRICS_FILE} names no train_id and no train run of the lake at "
            f"{lake.root} wrote it; score a lake with a model `facelake train` trained on it",
            option="model",
        )
    gate = (metrics.get("sharpness") or {}).get("gate")
    return ScoringModel(
        folder=folder,
        train_id=str(train_id),
        protocol=str(metrics.get("protocol", "")),
        frames_version=None if metrics.get("frames_version") is None else int(metrics["frames_version"]),
        validation_subjects=tuple(int(s) for s in metrics.get("validation_subjects") or ()),
        validation_frames=str(metrics.get("validation_frames", "all")),
        sharpness_gate=None if gate is None else int(gate),
        trained_here=any(r["train_id"] == train_id for r in runs),
    )


def face_parts(lake: Lake, model: ScoringModel) -> pa.Table:
    """(video_id, frame_index, part) of every face the model trained, validated or was tested on.

    Empty when the lake did not train the model (every face is then `unseen`).
    """
    if not model.trained_here or model.frames_version is None or not model.validation_subjects:
        log.warning("%s was not trained on this lake: every face is unseen for it", model.train_id)
        return PARTS_SCHEMA.empty_table()
    index = _frame_index(lake, model)
    if model.sharpness_gate is not None:
        index = index.filter(pc.greater_equal(index.column("sharpness_count"), model.sharpness_gate))
    split = split_protocol(
        index,
        protocol_of(model.protocol),
        p1_validation_frames=model.p1_validation_frames,
        validation_subjects=model.validation_subjects,
    )
    parts = []
    for name in PARTS:
        rows = split.part(name).select(KEY)
        parts.append(rows.append_column("part", pa.array([ScorePart(name).value] * rows.num_rows, pa.string())))
    return pa.concat_tables(parts).cast(PARTS_SCHEMA)


def _frame_index(lake: Lake, model: ScoringModel) -> pa.Table:
    """The ok frames' small columns at the model's frames version; the current version when that
    one can no longer be read (vacuumed by `maintain` or `forget`): the protocol's rules then place
    today's faces, which for faces unchanged since is where they were."""
    from deltalake.exceptions import DeltaError

    ok = [("det_status", "=", DetStatus.OK)]
    try:
        return lake.read(FRAMES, columns=INDEX_COLUMNS, filters=ok, version=model.frames_version)
    except (OSError, DeltaError) as error:
        log.warning(
            "frames version %d that %s read is gone (%s); its parts are placed on the current version",
            model.frames_version,
            model.train_id,
            str(error).splitlines()[0][:200],
        )
        return lake.read(FRAMES, columns=INDEX_COLUMNS, filters=ok)
