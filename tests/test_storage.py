"""etl.lake.storage: where an object-store lake's options come from, and that secrets stay out of messages."""

import json

import pytest

from etl.lake.lake import Lake
from etl.lake.storage import (
    RETRY_DEFAULTS,
    StorageOptionsError,
    arrow_path,
    arrow_s3_filesystem,
    max_attempts,
    resolve_storage_options,
)

SECRET = "do-not-print-me"
RETRY = {
    "max_retries": "10",
    "retry_timeout": "120s",
    "backoff_config.init_backoff": "100ms",
    "backoff_config.max_backoff": "15s",
    "backoff_config.base": "2",
}


def test_local_lake_needs_no_options():
    assert resolve_storage_options("/tmp/lake", {"AWS_SECRET_ACCESS_KEY": SECRET}) == {}
    assert Lake.open("relative/lake", environ={}, create=True).storage_options == {}


def test_environment_then_file_with_conditional_put_by_default(tmp_path):
    file = tmp_path / "s3.json"
    file.write_text(json.dumps({"AWS_SECRET_ACCESS_KEY": SECRET, "AWS_ALLOW_HTTP": True}))
    environ = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_SECRET_ACCESS_KEY": "from-env",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "HOME": "/root",
        "FACELAKE_STORAGE_OPTIONS": str(file),
    }
    assert resolve_storage_options("s3://b/lake", environ) == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": "eu-west-1",
        "AWS_ALLOW_HTTP": "true",
        "aws_conditional_put": "etag",
        **RETRY,
    }


def test_a_locking_provider_or_explicit_conditional_put_is_kept():
    assert "aws_conditional_put" not in resolve_storage_options("s3://b/l", {"AWS_S3_LOCKING_PROVIDER": "dynamodb"})
    file_options = resolve_storage_options("s3://b/l", {})
    assert file_options == {"aws_conditional_put": "etag", **RETRY}


@pytest.mark.parametrize(
    "text, message",
    [
        (
            '{"AWS_SECRET_ACCESS_KEY": ["' + SECRET + '"]}',
            "option 'AWS_SECRET_ACCESS_KEY' must be a string or a boolean",
        ),
        ('{"AWS_SECRET_ACCESS_KEY": "' + SECRET + '",}', "not valid JSON (line 1"),
        ('["' + SECRET + '"]', "expected a JSON object"),
    ],
)
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
    # built directly: Lake.open also reads the tables' schema versions, and there is no store at s3://b
    lake = Lake(
        "s3://b/lake", storage_options=resolve_storage_options("s3://b/lake", {"AWS_SECRET_ACCESS_KEY": SECRET})
    )
    assert lake.storage_options["AWS_SECRET_ACCESS_KEY"] == SECRET
    assert SECRET not in repr(lake) and SECRET not in str(lake)


def test_arrow_path():
    assert (
        arrow_path("s3://bucket/lake/frames/split=train/part-0.parquet")
        == "bucket/lake/frames/split=train/part-0.parquet"
    )


def test_the_retry_policy_is_explicit_and_documented():
    assert {name: default for name, (default, _) in RETRY_DEFAULTS.items()} == RETRY
    import etl.lake.storage

    for name, value in RETRY.items():  # the module docstring's table states every default
        assert f"`{name}`" in etl.lake.storage.__doc__ and f"`{value}`" in etl.lake.storage.__doc__
    assert max_attempts({}) == 11


def test_retry_options_set_by_the_user_win_in_any_case_or_alias(tmp_path):
    file = tmp_path / "s3.json"
    file.write_text(json.dumps({"MAX_RETRIES": 3, "init_backoff": "1s", "backoff.base": "3", "Retry_Timeout": "30s"}))
    options = resolve_storage_options("s3://b/l", {"FACELAKE_STORAGE_OPTIONS": str(file)})
    assert options == {
        "aws_conditional_put": "etag",
        "max_retries": "3",
        "backoff_config.init_backoff": "1s",
        "backoff_config.base": "3",
        "retry_timeout": "30s",
        "backoff_config.max_backoff": "15s",
    }
    assert max_attempts(options) == 4
    assert resolve_storage_options("s3://b/l", {"FACELAKE_STORAGE_OPTIONS": str(file)}) == options
    no_retries = tmp_path / "none.json"
    no_retries.write_text(json.dumps({"max_retries": "0"}))
    assert max_attempts(resolve_storage_options("s3://b/l", {"FACELAKE_STORAGE_OPTIONS": str(no_retries)})) == 1


@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_retries": SECRET}, "option 'max_retries' must be a whole number >= 0"),
        ({"max_retries": "-1"}, "option 'max_retries' must be a whole number >= 0"),
        ({"retry_timeout": SECRET}, "option 'retry_timeout' must be a duration such as '100ms'"),
        ({"backoff_config.max_backoff": "15"}, "option 'backoff_config.max_backoff' must be a duration"),
        ({"base": "0.5"}, "option 'backoff_config.base' must be a number >= 1"),
        ({"backoff_config.base": SECRET}, "option 'backoff_config.base' must be a number >= 1"),
        (
            {"init_backoff": "1s", "backoff_config.init_backoff": "2s"},
            "retry option 'backoff_config.init_backoff' is set twice",
        ),
    ],
)
def test_bad_retry_options_are_refused_naming_the_key_only(tmp_path, options, message):
    file = tmp_path / "s3.json"
    file.write_text(json.dumps(options))
    with pytest.raises(StorageOptionsError, match=message.replace("(", r"\(")) as caught:
        resolve_storage_options("s3://b/lake", {"FACELAKE_STORAGE_OPTIONS": str(file)})
    assert SECRET not in str(caught.value)


def test_pyarrow_reads_get_the_same_retry_bound(monkeypatch):
    import pyarrow.fs

    made = {}
    monkeypatch.setattr(pyarrow.fs, "S3FileSystem", lambda **kwargs: made.update(kwargs))
    arrow_s3_filesystem({"max_retries": "4", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": SECRET})
    assert isinstance(made["retry_strategy"], pyarrow.fs.AwsStandardS3RetryStrategy)
    assert made["retry_strategy"].max_attempts == 5 and made["secret_key"] == SECRET
    arrow_s3_filesystem({})
    assert made["retry_strategy"].max_attempts == 11


DELTA_RS_DENIED = (  # the text delta-rs 1.x raised against the moto server in tests/test_s3_faults.py
    "Generic S3 error\n"
    "          \x1b[31m↳\x1b[0m Error performing list request\n"
    "           \x1b[31m↳\x1b[0m Error performing GET http://127.0.0.1:45107/bucket?list-type=2&prefix=lake%2F"
    " in 2.5ms - Server returned non-2xx status code\n"
    "            \x1b[31m↳\x1b[0m 403 Forbidden\n"
    '             \x1b[31m↳\x1b[0m <?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>AccessDenied</Code><Message>Access Denied</Message><Resource>/bucket</Resource></Error>\n"
)


def test_a_refusal_from_delta_rs_becomes_one_line_without_the_url():
    from etl.lake.storage_errors import describe_storage_error

    refusal = describe_storage_error(OSError(DELTA_RS_DENIED))
    assert refusal.line == (
        "Generic S3 error: object storage refused list request: 403 Forbidden (AccessDenied: Access Denied)"
    )
    assert refusal.denied


def test_a_server_error_is_described_but_not_called_denied():
    from etl.lake.storage_errors import describe_storage_error

    text = DELTA_RS_DENIED.replace("403 Forbidden", "503 Service Unavailable").replace(
        "<Code>AccessDenied</Code><Message>Access Denied", "<Code>SlowDown</Code><Message>Reduce your rate"
    )
    refusal = describe_storage_error(OSError(text))
    assert refusal.line.endswith("refused list request: 503 Service Unavailable (SlowDown: Reduce your rate)")
    assert not refusal.denied


def test_a_refusal_from_pyarrow_and_errors_that_are_not_refusals():
    from etl.lake.storage_errors import describe_storage_error

    arrow = OSError(
        "When listing objects under key 'lake/videos' in bucket 'b': AWS Error ACCESS_DENIED during "
        "ListObjectsV2 operation: Access Denied"
    )
    refusal = describe_storage_error(arrow)
    assert (refusal.line, refusal.denied) == (
        "object storage refused ListObjectsV2: ACCESS_DENIED (Access Denied)",
        True,
    )
    assert describe_storage_error(FileNotFoundError(2, "No such file or directory")) is None
    assert describe_storage_error(ValueError("403 Forbidden")) is None
