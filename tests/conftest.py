"""Session fixtures, each built once and shared by tests: one tiny real sample tree and one
clean ingest of it; one photo registry and one lake in which it is registered, embedded and
deduplicated; one local S3 server.

The sample and the registry are made by `facelake sample` code from real face photos shipped
in installed packages; every job is the real CLI in a subprocess with a real local Ray.
The shared lakes are read-only for tests: a test that writes copies the lake first
(`shutil.copytree`; a local lake is a few MB).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# every job run by a test writes its log file here, not under the user's ~/.local/state;
# a folder of our own is removed after a session that passed (a failed one keeps it to read)
_OWN_LOG_DIR = None if "FACELAKE_LOG_DIR" in os.environ else tempfile.mkdtemp(prefix="facelake-test-logs-")
if _OWN_LOG_DIR:
    os.environ["FACELAKE_LOG_DIR"] = _OWN_LOG_DIR
SAMPLE_ARGS = {"subjects": 2, "seconds": 1.0, "seed": 7}
# the shared photo registry (`registry_tree`, `registry`): one person registered twice (user_03, user_09)
REGISTRY_ARGS = {"seed": 3, "duplicate": True}
# the local S3 server (`s3` fixture): one bucket, and a secret that must appear nowhere it is not given
BUCKET = "facelake-test"
SECRET = "s3cr3t-Kz9wQ4vN7xLp2RtY"
ACCESS_KEY = "AKIDFACELAKETEST"


def tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every file under root (to prove a tree was not touched)."""
    out = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            out[str(path.relative_to(root))] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    return out


def ingest_command(source: Path, lake: Path, *extra: str, prefix: Sequence[str] = ()) -> list[str]:
    """The ingest CLI; with `prefix` (a script and its arguments, e.g. the driver probe) run as
    `python SCRIPT ARGS ingest ...`."""
    job = [*prefix, "ingest"] if prefix else ["-m", "jobs.ingest"]
    return [sys.executable, *job, "--source", str(source), "--lake", str(lake), "--no-progress", *extra]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    return env


def run_ingest_cli(
    source: Path, lake: Path, *extra: str, timeout: float = 600, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ingest_command(source, lake, *extra, prefix=prefix),
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(f"ingest exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result


def run_job_cli(
    module: str, *args: str, timeout: float = 600, expect: int = 0, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess:
    """`python -m jobs.<module> args...` in a subprocess with a fresh local Ray (`prefix`: a command to run it
    under)."""
    result = subprocess.run(
        [*prefix, sys.executable, "-m", f"jobs.{module}", *args],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != expect:
        raise AssertionError(f"{module} exited {result.returncode}, expected {expect}:\n{result.stderr[-4000:]}")
    return result


# What lets root read a file whatever its permission bits say: CAP_DAC_OVERRIDE (and, for
# folders, CAP_DAC_READ_SEARCH). Without them a process of uid 0 is held to the bits like any user.
DAC_CAPABILITIES = ("dac_override", "dac_read_search")


@functools.cache
def without_root_file_access() -> tuple[str, ...]:
    """A command prefix that runs a job held to file permission bits, as an ordinary user is.

    Empty when this process is not root (it already is). As root (CI runs as root) the job
    runs under `setpriv` with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH removed from its
    inheritable and bounding sets, so neither it nor any process it starts (the Ray
    workers) can get them back. It keeps uid 0: the lake, HOME, the Ray temp folder and the
    venv stay its own (owner permissions), while a file with mode 000 fails to open with
    EACCES, as it would for any user. Checked once here: if that cannot be arranged the
    tests that need it fail with this message rather than pass or skip unseen.
    """
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise RuntimeError(
            "running as root and setpriv (util-linux) is missing: cannot run a job that is held "
            "to file permission bits; install util-linux or run the tests as a non-root user"
        )
    drop = ",".join(f"-{name}" for name in DAC_CAPABILITIES)
    prefix = (setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}", "--")
    with tempfile.TemporaryDirectory(prefix="facelake-dac-probe-") as folder:
        probe = Path(folder) / "mode-000"
        probe.write_bytes(b"x")
        probe.chmod(0)
        code = "import sys\ntry:\n    open(sys.argv[1], 'rb')\nexcept PermissionError:\n    sys.exit(13)\n"
        result = subprocess.run(
            [*prefix, sys.executable, "-c", code, str(probe)], capture_output=True, text=True, timeout=120
        )
    if result.returncode != 13:
        raise RuntimeError(
            f"{' '.join(prefix)} did not stop root from reading a mode-000 file (exit "
            f"{result.returncode}: {result.stderr.strip()[-500:]}); the container may lack CAP_SETPCAP"
        )
    return prefix


@dataclass
class Sample:
    root: Path
    manifest: object  # etl.synthetic.siw_tree.SampleManifest


@dataclass
class CleanIngest:
    lake: Path
    digest_before: dict
    digest_after: dict
    log: str
    driver_payloads: list  # tests/driver_bytes_probe.py's findings: image payloads the ingest driver held


@pytest.fixture(scope="session")
def sample(tmp_path_factory) -> Sample:
    from etl.synthetic.siw_tree import write_sample_tree

    root = tmp_path_factory.mktemp("siw") / "tree"
    manifest = write_sample_tree(root, **SAMPLE_ARGS)
    return Sample(root=root, manifest=manifest)


@pytest.fixture(scope="session")
def clean_ingest(sample, tmp_path_factory) -> CleanIngest:
    lake = tmp_path_factory.mktemp("lake-clean") / "lake"
    before = tree_digest(sample.root)
    probe = lake.parent / "driver_payloads.json"
    # the CLI run under the driver probe: its output is the CLI's, and every image payload its driver held is recorded
    result = run_ingest_cli(sample.root, lake, prefix=(str(REPO / "tests" / "driver_bytes_probe.py"), str(probe)))
    return CleanIngest(
        lake=lake,
        digest_before=before,
        digest_after=tree_digest(sample.root),
        log=result.stderr,
        driver_payloads=json.loads(probe.read_text()),
    )


@dataclass
class RegistryTree:
    root: Path
    manifest: object  # etl.synthetic.photo_registry.RegistryManifest


@dataclass
class Registry:
    """The shared registry lake: never written by a test (copy it first); checked unchanged at the session's end."""

    root: Path  # the photo tree (the `registry_tree` fixture's)
    lake: Path  # the sample ingested (as `clean_ingest`), then the registry registered, embedded (photos), deduplicated
    manifest: object  # etl.synthetic.photo_registry.RegistryManifest
    digest_before: dict  # the photo tree before register
    logs: dict  # stderr of register, embed and dedup
    register_driver_payloads: list  # tests/driver_bytes_probe.py's findings for the register run


@pytest.fixture(scope="session")
def registry_tree(tmp_path_factory) -> RegistryTree:
    """The photo registry (REGISTRY_ARGS), written once: copy it before changing it."""
    from etl.synthetic.photo_registry import write_photo_registry

    root = tmp_path_factory.mktemp("registry") / "photos"
    return RegistryTree(root=root, manifest=write_photo_registry(root, **REGISTRY_ARGS))


@pytest.fixture(scope="session")
def registry(registry_tree, clean_ingest, tmp_path_factory) -> Registry:
    """`registry_tree` registered, embedded and deduplicated (photos) in a copy of the clean ingest's lake.

    The lake holds both sources, as `make demo` builds it: videos and frames (no frame
    vectors) and photos with their vectors and identity tables.
    """
    lake = tmp_path_factory.mktemp("lake-registry") / "lake"
    shutil.copytree(clean_ingest.lake, lake)
    digest = tree_digest(registry_tree.root)
    probe = lake.parent / "register_driver_payloads.json"
    register = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests" / "driver_bytes_probe.py"),
            str(probe),
            "register",
            "--source",
            str(registry_tree.root),
            "--lake",
            str(lake),
        ],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert register.returncode == 0, register.stderr[-4000:]
    logs = {
        "register": register.stderr,
        "embed": run_job_cli("embed", "--lake", str(lake), "--source", "photos").stderr,
        "dedup": run_job_cli("dedup", "--lake", str(lake), "--source", "photos").stderr,
    }
    built = tree_digest(lake)
    yield Registry(
        root=registry_tree.root,
        lake=lake,
        manifest=registry_tree.manifest,
        digest_before=digest,
        logs=logs,
        register_driver_payloads=json.loads(probe.read_text()),
    )
    after = tree_digest(lake)
    changed = sorted(path for path in set(built) | set(after) if built.get(path) != after.get(path))
    assert not changed, f"a test wrote into the shared registry lake (copy it first): {changed[:10]}"


@dataclass
class TrainedModel:
    """One real 2-worker, 2-epoch `facelake train` (P1) on a 4-subject sample lake, shared by
    test_train and test_cli_train_predict; never written by a test (copy it first)."""

    tree: Path  # the sample tree (4 subjects: Train 1, 3; Test 2, 4)
    lake: Path
    out: Path  # --out
    model: Path  # out / "P1"
    result: subprocess.CompletedProcess  # the CLI's stdout and stderr
    driver_payloads: list  # tests/driver_bytes_probe.py's findings: image payloads the driver held


TRAIN_ARGS = ("--workers", "2", "--epochs", "2", "--batch-size", "32")


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> TrainedModel:
    from etl.synthetic.siw_tree import write_sample_tree

    base = tmp_path_factory.mktemp("train")
    write_sample_tree(base / "siw", subjects=4, seconds=1.0, seed=11)
    run_ingest_cli(base / "siw", base / "lake")
    out, probe = base / "models", base / "driver_payloads.json"
    # the CLI run under the driver probe: what it prints is the CLI's, and every image payload the driver held
    # is recorded (tests/driver_bytes_probe.py)
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests" / "driver_bytes_probe.py"),
            str(probe),
            "train",
            "--lake",
            str(base / "lake"),
            "--out",
            str(out),
            *TRAIN_ARGS,
        ],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return TrainedModel(
        tree=base / "siw",
        lake=base / "lake",
        out=out,
        model=out / "P1",
        result=result,
        driver_payloads=json.loads(probe.read_text()),
    )


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """moto's S3 on a free port of 127.0.0.1 with one bucket, one server for the session; yields the environment
    for jobs.

    Every test keeps to prefixes of its own (each module names its own): no test lists or
    counts objects outside them. The endpoint and region come from the environment, the
    credentials from the FACELAKE_STORAGE_OPTIONS file, so both sources are exercised.
    """
    server = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "s3_server.py")],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline()
        assert line.startswith("PORT "), f"the S3 server did not start: {line!r}"
        endpoint = f"http://127.0.0.1:{int(line.split()[1])}"
        options = tmp_path_factory.mktemp("s3") / "storage.json"
        options.write_text(json.dumps({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET}))
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
            "FACELAKE_STORAGE_OPTIONS": str(options),
        }
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET,
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=BUCKET)
        yield {"env": env, "client": client, "logs": []}
    finally:
        server.stdin.close()
        server.terminate()
        server.wait(timeout=30)


def s3_job_env(s3) -> dict[str, str]:
    """The environment of a job run against the `s3` fixture's server: its options, no stray AWS credentials."""
    env = dict(os.environ)
    for name in ("RAY_ADDRESS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(name, None)
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", **s3["env"])
    return env


# ---------------------------------------------------------------- test tiers
# `make test` (the README's command) runs `-m "not slow"`: the fast tier, under 8 minutes on a
# 2-core machine, still with one real end-to-end ingest (`clean_ingest`), the DuckDB audit and
# queries over it, and the read-only SQL corpus. `make test-all` (CI) runs everything. These
# modules are full tier only: each builds lakes, trains, or injects faults of its own.
FULL_TIER_MODULES = frozenset(
    {
        "test_bad_input",  # the 37-kind bad-input corpus through ingest and register
        "test_boundaries",  # hostile user names through register, embed, forget
        "test_forget",  # erasure on local and S3 lakes
        "test_identity_jobs",  # register, embed, dedup and leakage jobs
        "test_ingest_recovery",  # SIGKILL, worker kill, SIGTERM, memory limit: each with reruns
        "test_ingest_watch",  # incremental passes with arrivals
        "test_job_faults",  # SIGKILL mid-register and mid-embed
        "test_job_submit",  # a real `ray start --head` and `ray job submit`
        "test_maintain",  # compact and vacuum
        "test_memory_guard",  # a 4K video over its memory limit
        "test_multinode",  # ingest on a three-node Ray cluster
        "test_predict",  # a trained model scoring photos and videos
        "test_s3_faults",  # ingest and register through a 15 % fault proxy
        "test_s3_lake",  # the pipeline on moto's S3
        "test_score",  # a trained model scoring a lake with Ray Data, three times
        "test_train",  # Ray Train with two workers
        "test_track_accuracy",  # every sample video through ingest twice (cascade only, ONet tracking)
    }
)


def pytest_sessionfinish(session, exitstatus):
    if _OWN_LOG_DIR and exitstatus == 0:
        shutil.rmtree(_OWN_LOG_DIR, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in FULL_TIER_MODULES:
            item.add_marker(pytest.mark.slow)
