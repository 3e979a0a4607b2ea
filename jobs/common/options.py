"""A job's options, declared once: the typed config gives each option its default and its type.

    option = JobOptions(parser, IngestConfig())
    option.lake(creates=True)
    option("workers", "videos processed at once (Ray tasks of one CPU each)", "N")
    ...
    config = config_from(args, IngestConfig, detector=detector_from(args))

`option(field, help, metavar)` binds `--workers` to the config's field `workers`: the flag
is the field's name with dashes (or `flag=`), the default is the config's own (so `--help`
shows what a Python caller of the run function gets, and the two cannot drift apart), and
the type is the default's: a `False` default makes a switch, a tuple takes that many
values. An argparse setting given explicitly wins. `config_from` builds the config from
the parsed options whose names are its fields.

The options several jobs share (`--lake`, `--source`, `--address`, the detector's,
`--strict`, `--no-progress`) are the methods: declared once, they read the same in every job.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

from etl.config import DetectorConfig

_DETECTORS = "mtcnn (weights ship with the package) or insightface:DIR (an SCRFD/RetinaFace .onnx file in DIR)"
_CREDENTIALS = "(credentials from AWS_* variables and FACELAKE_STORAGE_OPTIONS)"


class SpacedTuple(tuple):
    """A default shown in --help as the user types it (`0.6 0.7 0.7`), not as a tuple."""

    def __str__(self) -> str:
        return " ".join(str(v) for v in self)


class JobOptions:
    """Declares a job's options on `parser`; `defaults` is the typed config whose fields they set."""

    def __init__(self, parser: argparse.ArgumentParser, defaults=None) -> None:
        self.parser, self.defaults = parser, defaults

    def __call__(self, name: str, help: str, metavar=None, *, flag: str | None = None, **settings) -> None:
        """The option that sets the field `name` (see the module's docstring)."""
        default = getattr(self.defaults, name)
        inferred: dict = {"dest": name, "default": default, "metavar": metavar}
        if default is False:
            inferred = {"dest": name, "action": "store_true"}
        elif isinstance(default, tuple) and default:
            inferred.update(nargs=len(default), type=type(default[0]), default=SpacedTuple(default))
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            inferred["type"] = type(default)
        if "type" in settings:  # the caller parses the text its own way
            inferred.pop("nargs", None)
        self.parser.add_argument(flag or "--" + name.replace("_", "-"), help=help, **{**inferred, **settings})

    def lake(self, *, creates: bool, required: bool = True) -> None:
        """--lake: a lake to read (made by ingest or register), or one this job `creates` if missing."""
        if creates:
            where = "a folder (created if missing; an existing one must be empty or a lake) or s3://bucket/prefix"
        else:
            where = "a folder made by `facelake ingest` or `facelake register`, or s3://bucket/prefix"
        self.parser.add_argument("--lake", required=required, metavar="LAKE", help=f"lake root: {where} {_CREDENTIALS}")

    def source_tree(self, *, tree: str, holding: str) -> None:
        """--source of the jobs that read a tree of the user's files (never changed)."""
        self.parser.add_argument(
            "--source",
            required=True,
            metavar="DIR|URI",
            help=f"root of the {tree}: the folder (or s3://bucket/prefix) holding {holding}; only read, never changed",
        )

    def ray_address(self) -> None:
        """--address of the jobs that fan work out over Ray (`ray_address(args)` reads it)."""
        self.parser.add_argument(
            "--address",
            default=None,
            metavar="HOST:PORT",
            help="Ray cluster to run on: HOST:PORT of its head, as `ray start --head` printed it (default: "
            "$RAY_ADDRESS, else a local Ray on this machine)",
        )

    def detector(
        self, *, unit: str, accept_help: str, pass_name: str = "", thresholds: bool = False, tracking: bool = False
    ) -> None:
        """The face detector's options (`DetectorConfig`, read back by `detector_from`): --detector,
        --min-face-size, --accept-score, with `thresholds` MTCNN's --stage-thresholds and, with `tracking`
        (videos), --cascade-every and --onet-min-iou (etl/faces/track.py).

        `unit`: whose pixels a face's size counts; `pass_name` prefixes each help text (register
        has two detector passes).
        """
        option, prefix = JobOptions(self.parser, DetectorConfig()), f"{pass_name}: " if pass_name else ""
        option("backend", f"{prefix}face detector: {_DETECTORS}", "NAME", flag="--detector")
        if thresholds:
            thresholds_help = "MTCNN's three stage thresholds, each in (0, 1); lower finds more (and more false) faces"
            option("stage_thresholds", thresholds_help, ("PNET", "RNET", "ONET"))
        option("min_face_size", f"{prefix}smallest face searched for, in {unit} pixels (at least 12)", "PIXELS")
        option("accept_score", prefix + accept_help, "SCORE")
        if tracking:
            every_help = (
                "MTCNN: run the full cascade on every N-th frame of a video and wherever ONet alone is unsure; "
                "on the frames between, only its last stage (ONet) on the previous frame's face or the .face box "
                "(1: the full cascade on every frame)"
            )
            option("cascade_every", every_help, "N")
            iou_help = (
                "trust ONet alone only when its box overlaps the box it was given (and the .face box) by this IoU"
            )
            option("onet_min_iou", iou_help, "IOU")

    def run_flags(self, *, strict_when: str, progress: bool = True) -> None:
        """--strict (exit 1 when `strict_when`) and, with `progress`, --no-progress."""
        if progress:
            self.parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs and batch jobs)")
        self.parser.add_argument("--strict", action="store_true", help=f"exit 1 when {strict_when}")


def config_from(args: argparse.Namespace, config_type, **given):
    """`config_type` from the parsed options named like its fields (lists become tuples), `given` first."""
    names = {field.name for field in dataclasses.fields(config_type)}
    parsed = {name: tuple(v) if isinstance(v, list) else v for name, v in vars(args).items() if name in names}
    return config_type(**{**parsed, **given})


def detector_from(args: argparse.Namespace) -> DetectorConfig:
    """The `DetectorConfig` of `JobOptions.detector`'s options (the others keep their defaults)."""
    return config_from(args, DetectorConfig)


def ray_address(args: argparse.Namespace) -> str | None:
    """The Ray cluster a job runs on: --address, else $RAY_ADDRESS, else None (a local Ray)."""
    return args.address or os.environ.get("RAY_ADDRESS")
