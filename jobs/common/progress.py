"""Driver-side progress for long jobs: items and frames done of total, rate, time left."""

from __future__ import annotations

from tqdm import tqdm

from jobs.common import console


class FrameProgress:
    """A frames bar (rate and time left come from tqdm) with videos done in its postfix.

    `total_frames` is an estimate before decoding (from the `.face` line counts); the bar
    corrects it as videos finish.
    """

    def __init__(self, *, total_videos: int, total_frames: int, enabled: bool = True) -> None:
        terminal = console.stream()
        interactive = terminal.isatty()
        self.total_videos = total_videos
        self.videos_done = 0
        self.bar = tqdm(
            total=max(total_frames, 0),
            unit="frame",
            desc="ingest",
            disable=not enabled or total_videos == 0,
            mininterval=0.5 if interactive else 10.0,
            dynamic_ncols=True,
            file=terminal,
        )
        self._refresh_postfix()

    def _refresh_postfix(self) -> None:
        self.bar.set_postfix_str(f"videos {self.videos_done}/{self.total_videos}", refresh=False)

    def video_done(self, *, frames: int, estimated: int) -> None:
        self.videos_done += 1
        if frames != estimated:
            self.bar.total = max(self.bar.n + frames, self.bar.total + frames - estimated)
        self._refresh_postfix()
        self.bar.update(frames)

    def close(self) -> None:
        self.bar.close()
