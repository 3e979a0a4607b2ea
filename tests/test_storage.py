"""etl.storage: where an object-store lake's options come from, and that secrets stay out of messages."""
import json

import pytest

from etl.lake import Lake
from etl.storage import StorageOptionsError, arrow_path, resolve_storage_options

SECRET = "do-not-print-me"


def test_local_lake_needs_no_options():
    assert resolve_storage_options("/tmp/lake", {"AWS_SECRET_ACCESS_KEY": SECRET}) == {}
    assert Lake.open("relative/lake", environ={}).storage_options == {}


def test_environment_then_file_with_conditional_put_by_default(tmp_path):
    file = tmp_path / "s3.json"
    file.write_text(json.dumps({"AWS_SECRET_ACCESS_KEY": SECRET, "AWS_ALLOW_HTTP": True}))
    environ = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_SECRET_ACCESS_KEY": "from-env",
               "AWS_DEFAULT_REGION": "eu-west-1", "HOME": "/root", "FACELAKE_STORAGE_OPTIONS": str(file)}
    assert resolve_storage_options("s3://b/lake", environ) == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "eu-west-1",
        "AWS_ALLOW_HTTP": "true", "aws_conditional_put": "etag"}


def test_a_locking_provider_or_explicit_conditional_put_is_kept():
    assert "aws_conditional_put" not in resolve_storage_options("s3://b/l", {"AWS_S3_LOCKING_PROVIDER": "dynamodb"})
    file_options = resolve_storage_options("s3://b/l", {})
    assert file_options == {"aws_conditional_put": "etag"}


@pytest.mark.parametrize("text, message", [
    ('{"AWS_SECRET_ACCESS_KEY": ["' + SECRET + '"]}', "option 'AWS_SECRET_ACCESS_KEY' must be a string or a boolean"),
    ('{"AWS_SECRET_ACCESS_KEY": "' + SECRET + '",}', "not valid JSON (line 1"),
    ('["' + SECRET + '"]', "expected a JSON object"),
])
def test_bad_options_files_are_refused_without_echoing_values(tmp_path, text, message):
    file = tmp_path / "s3.json"
    file.write_text(text)
    with pytest.raises(StorageOptionsError, match=message.replace("(", r"\(").replace("[", r"\[")) as caught:
        Lake.open("s3://b/lake", environ={"FACELAKE_STORAGE_OPTIONS": str(file)})
    assert SECRET not in str(caught.value)


def test_missing_options_file_names_the_variable(tmp_path):
    with pytest.raises(StorageOptionsError, match="FACELAKE_STORAGE_OPTIONS=.*no such file"):
        resolve_storage_options("s3://b/l", {"FACELAKE_STORAGE_OPTIONS": str(tmp_path / "nope.json")})


def test_repr_leaves_the_options_out():
    lake = Lake.open("s3://b/lake", environ={"AWS_SECRET_ACCESS_KEY": SECRET})
    assert lake.storage_options["AWS_SECRET_ACCESS_KEY"] == SECRET
    assert SECRET not in repr(lake) and SECRET not in str(lake)


def test_arrow_path():
    assert arrow_path("s3://bucket/lake/frames/split=train/part-0.parquet") == "bucket/lake/frames/split=train/part-0.parquet"
