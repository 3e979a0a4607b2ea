"""Boundaries: names from the source tree and values from the user stay data.

- SQL parameters are bound, never formatted into SQL (`facelake sql --param`, `run_query`);
- user names with quotes, SQL, shell syntax, dots and non-ASCII letters are registered,
  queried and forgotten as exactly themselves, and every byte written lands under the
  lake root (the source tree and everything beside the lake stay as they were);
- unusable storage options end a job with exit 2 and a line that names the key, never a value.
(`facelake sql` being read-only: tests/test_catalog_sql.py; secrets on S3: tests/test_s3_lake.py.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from checksum import table_checksum
from conftest import REPO, run_job_cli, subprocess_env, tree_digest

from etl.lake.lake import Lake
from etl.lake.query import run_query
from schemas import PHOTOS, VIDEOS

# registry users renamed to names that would break SQL, shell or path handling if used as code
ODD_USERS = {
    "user_01": "O'Brien",
    "user_02": "x') OR ('1'='1",
    "user_03": "Zoë Ångström",
    "user_04": "..hidden",
    "user_05": "$(touch pwned); rm -rf ~",
}
INJECTION = "x') OR ('1'='1"


def _sql(lake: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    return run_job_cli("sql", "--lake", str(lake), *args, expect=expect)


def test_sql_parameters_are_bound_never_formatted(clean_ingest):
    lake = Lake(str(clean_ingest.lake))
    videos = lake.read(VIDEOS, columns=["video_id"]).column("video_id").to_pylist()
    sql = "SELECT count(*) AS n FROM videos WHERE video_id = $id"
    assert run_query(lake, sql, {"id": videos[0]}).to_pylist() == [{"n": 1}]
    for hostile in ("' OR '1'='1", f"{videos[0]}' OR '1'='1", "'; DROP VIEW videos; --", "$id"):
        assert run_query(lake, sql, {"id": hostile}).to_pylist() == [{"n": 0}]
    assert run_query(lake, "SELECT count(*) AS n FROM videos").to_pylist() == [{"n": len(videos)}]
    result = _sql(clean_ingest.lake, sql, "--param", "id=' OR '1'='1", "--format", "json")
    assert json.loads(result.stdout) == [{"n": 0}]  # one JSON array


@pytest.fixture(scope="module")
def odd_registry(registry_tree, tmp_path_factory):
    """The shared photo registry with users renamed to hostile names, registered into base/lake; base's digest
    before."""
    base = tmp_path_factory.mktemp("odd-names")
    photos = base / "photos"
    shutil.copytree(registry_tree.root, photos)
    for old, new in ODD_USERS.items():
        (photos / old).rename(photos / new)
    (base / "beside-the-lake.txt").write_text("must stay as it is\n")
    before = tree_digest(base)
    result = run_job_cli("register", "--source", str(photos), "--lake", str(base / "lake"))
    return {"base": base, "photos": photos, "lake": base / "lake", "before": before, "log": result.stderr}


def _photos(lake: Path) -> pa.Table:
    return Lake(str(lake)).read(PHOTOS)


def test_hostile_user_names_are_registered_as_exactly_themselves(odd_registry):
    photos = _photos(odd_registry["lake"])
    on_disk = {p.parent.name for p in odd_registry["photos"].rglob("*.jpg")}
    assert set(photos.column("user").to_pylist()) == on_disk
    assert set(ODD_USERS.values()) <= on_disk
    for user in ODD_USERS.values():
        mine = photos.filter(pc.equal(photos.column("user"), user))
        files = sorted(p.name for p in (odd_registry["photos"] / user).glob("*.jpg"))
        assert sorted(Path(p).name for p in mine.column("path").to_pylist()) == files, user
    assert not (REPO / "pwned").exists() and not any(odd_registry["base"].rglob("pwned"))


def test_every_write_lands_under_the_lake_root(odd_registry):
    base, lake = odd_registry["base"], odd_registry["lake"]
    after = tree_digest(base)
    outside = {path: digest for path, digest in after.items() if not path.startswith("lake/")}
    assert outside == odd_registry["before"]  # the photo tree and the file beside the lake: untouched
    root = lake.resolve()
    for path in lake.rglob("*"):
        assert path.resolve().is_relative_to(root), path


def test_a_rerun_and_a_forget_of_a_hostile_name_touch_exactly_its_rows(odd_registry, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(odd_registry["lake"], lake)
    keys = ["photo_id"]
    before = _photos(lake)
    run_job_cli("register", "--source", str(odd_registry["photos"]), "--lake", str(lake), "--full")
    assert table_checksum(_photos(lake), keys=keys) == table_checksum(before, keys=keys)  # replaced, not doubled

    counted = _sql(
        lake, 'SELECT count(*) AS n FROM photos WHERE "user" = $user', "--param", f"user={INJECTION}", "--format", "csv"
    )
    assert counted.stdout.split() == ["n", str(before.filter(pc.equal(before.column("user"), INJECTION)).num_rows)]

    run_job_cli("forget", "--lake", str(lake), "--user", INJECTION)
    after = _photos(lake)
    assert INJECTION not in after.column("user").to_pylist()
    kept = before.filter(pc.not_equal(before.column("user"), INJECTION))
    assert (
        after.num_rows
        == before.num_rows - len(list((odd_registry["photos"] / INJECTION).glob("*.jpg")))
        < before.num_rows
    )
    assert "O'Brien" in after.column("user").to_pylist()
    assert table_checksum(after, keys=keys) == table_checksum(kept, keys=keys)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON (line 1, column 2)"),
        (
            '{"AWS_SECRET_ACCESS_KEY": ["hunter2-secret"]}',
            "option 'AWS_SECRET_ACCESS_KEY' must be a string or a boolean",
        ),
    ],
)
def test_unusable_storage_options_exit_2_naming_the_key_never_the_value(tmp_path, content, message):
    options = tmp_path / "storage.json"
    options.write_text(content)
    env = dict(subprocess_env(), FACELAKE_STORAGE_OPTIONS=str(options))
    for job in ("audit", "forget"):
        args = ["--lake", "s3://bucket/lake"] + (["--subject", "1"] if job == "forget" else [])
        result = subprocess.run(
            [sys.executable, "-m", f"jobs.{job}", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 2, result.stderr[-3000:]
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr[-3000:]
        assert "hunter2" not in result.stderr
