"""What an ingest or register run did, counted as it goes and printed at the end.

Besides the failures (videos not `ok`, with their reasons), the summary lists a note on
each video whose source needed care: `.face` repairs and dropped lines, a `.face` line
count that differs from the decoded frames, `.face` boxes that reach past the frame, and
fewer decoded frames than the container lists. The rows hold the same facts in columns.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from etl.sources.face_file import describe_repairs
from schemas.vocabulary import DetStatus, PhotoStatus, VideoStatus


@dataclass
class IngestSummary:
    run_id: str
    videos_found: int = 0
    videos_processed: int = 0
    videos_unchanged: int = 0
    videos_gone: int = 0
    video_status: Counter = field(default_factory=Counter)  # of this run's new/updated rows
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (video_id, status, reason)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (video_id, what was odd in its source)
    frames: int = 0
    frames_ok: int = 0
    frames_low_score: int = 0
    frames_no_face: int = 0
    face_repairs: int = 0
    orphan_face_files: int = 0
    ignored_files: int = 0  # neither .mov nor .face (named in the scan log)
    elapsed_s: float = 0.0
    interrupted: bool = False

    def add_video(self, video_row: pa.Table, frames: pa.Table) -> None:
        row = video_row.to_pylist()[0]
        self.video_status[row["status"]] += 1
        if row["status"] != VideoStatus.OK:
            self.failures.append((row["video_id"], row["status"], row["status_reason"] or ""))
        self.face_repairs += row["n_face_repairs"] or 0
        note = video_note(row, frames)
        if note:
            self.notes.append((row["video_id"], note))
        if frames.num_rows:
            counts = dict(zip(*[c.to_pylist() for c in pc.value_counts(frames.column("det_status")).flatten()]))
            self.frames += frames.num_rows
            self.frames_ok += counts.get(DetStatus.OK, 0)
            self.frames_low_score += counts.get(DetStatus.LOW_SCORE, 0)
            self.frames_no_face += counts.get(DetStatus.NO_FACE, 0)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def counts(self) -> dict:
        data = asdict(self)
        data["video_status"] = dict(self.video_status)
        data["failures"] = [list(f) for f in self.failures]
        # the notes' details are in the videos rows (face_repairs, face_lines, ...): runs keeps their count,
        # so that a run row names only the videos that failed
        data["notes"] = len(self.notes)
        data["frames_per_second"] = round(self.frames_per_second, 2)
        return data

    def lines(self) -> list[str]:
        status = ", ".join(f"{k} {v}" for k, v in sorted(self.video_status.items())) or "none"
        detected = f"{self.frames_ok / self.frames:.1%}" if self.frames else "n/a"
        out = [
            f"run {self.run_id}{' (interrupted)' if self.interrupted else ''}",
            f"videos: {self.videos_found} found, {self.videos_processed} processed, {self.videos_unchanged} unchanged, "
            f"{self.videos_gone} gone from source",
            f"video status (this run): {status}",
            f"frames: {self.frames} decoded, {self.frames_ok} with an aligned face ({detected}), "
            f"{self.frames_low_score} low score, {self.frames_no_face} no face",
            f".face repairs: {self.face_repairs}; orphan .face files: {self.orphan_face_files}; "
            f"other files ignored: {self.ignored_files}",
            f"elapsed: {self.elapsed_s:.1f} s ({self.frames_per_second:.1f} frames/s)",
        ]
        for video_id, status_, reason in self.failures:
            out.append(f"  {status_}: {video_id}: {reason}")
        for video_id, note in self.notes:
            out.append(f"  note: {video_id}: {note}")
        return out


def video_note(row: dict, frames: pa.Table) -> str | None:
    """What a user should know about a video's source, in one line (None: nothing)."""
    parts = []
    if row["face_repairs"]:
        parts.append(f".face: {describe_repairs(row['face_repairs'])}")
    lines, decoded, listed = row["face_lines"], row["source_frames"], row["stream_frames"]
    if lines is not None and decoded is not None and lines != decoded:
        parts.append(f"{lines} .face lines for {decoded} decoded frames")
    if decoded is not None and listed and decoded < listed:
        parts.append(f"only {decoded} of the {listed} frames the container lists decode")
    outside = _boxes_past_frame(frames, row["width"], row["height"])
    if outside:
        index, box = outside[0]
        parts.append(
            f"{len(outside)} .face boxes reach past the {row['width']}x{row['height']} frame "
            f"(first: frame {index}, {box})"
        )
    return "; ".join(parts) or None


def _boxes_past_frame(frames: pa.Table, width: int | None, height: int | None) -> list[tuple[int, list[int]]]:
    """(frame index, box) of the frames whose `.face` box is not inside the frame, in frame order."""
    if not frames.num_rows or not width or not height:
        return []
    rows = zip(frames.column("frame_index").to_pylist(), frames.column("face_box").to_pylist())
    return sorted((i, box) for i, box in rows if box and (box[2] > width or box[3] > height))


@dataclass
class RegisterSummary:
    """What a register run did: the photos found, processed and unchanged, their routes and failures."""

    run_id: str
    photos_found: int = 0
    photos_processed: int = 0
    photos_unchanged: int = 0
    photos_gone: int = 0
    ignored_files: int = 0
    status: Counter = field(default_factory=Counter)
    routes: Counter = field(default_factory=Counter)
    second_pass_found: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    elapsed_s: float = 0.0

    def add(self, rows: pa.Table) -> None:
        for row in rows.select(["photo_id", "status", "status_reason", "route", "detect_pass"]).to_pylist():
            self.status[row["status"]] += 1
            if row["route"]:
                self.routes[row["route"]] += 1
            if row["detect_pass"] == "second":
                self.second_pass_found += 1
            if row["status"] != PhotoStatus.OK:
                self.failures.append((row["photo_id"], row["status"], row["status_reason"] or ""))

    def counts(self) -> dict:
        data = asdict(self)
        data.update(status=dict(self.status), routes=dict(self.routes), failures=[list(f) for f in self.failures])
        return data

    def lines(self) -> list[str]:
        routes = ", ".join(f"{k} {v}" for k, v in sorted(self.routes.items())) or "none"
        out = [
            f"run {self.run_id}",
            f"photos: {self.photos_found} found, {self.photos_processed} processed, {self.photos_unchanged} unchanged, "
            f"{self.photos_gone} gone from source, {self.ignored_files} other files ignored",
            f"routes (this run): {routes}; {self.second_pass_found} found only by the second detector pass",
            f"elapsed {self.elapsed_s:.1f} s",
        ]
        out += [f"FAILED {pid}: {status}: {reason}" for pid, status, reason in self.failures]
        return out
