"""How to reach a lake on object storage: the storage options of an `s3://` lake.

A local lake (a folder) needs none. For `s3://bucket/prefix` (or `s3a://`) the options
are gathered in one place, in increasing precedence:

1. the environment: `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
   `AWS_SESSION_TOKEN`, `AWS_REGION` (else `AWS_DEFAULT_REGION`), `AWS_ALLOW_HTTP`,
   `AWS_S3_LOCKING_PROVIDER`, `DELTA_DYNAMO_TABLE_NAME`;
2. the JSON file named by `FACELAKE_STORAGE_OPTIONS`: one object whose keys are
   delta-rs storage option names (e.g. `"AWS_ENDPOINT_URL"`, `"AWS_SECRET_ACCESS_KEY"`,
   `"AWS_ALLOW_HTTP"`) and whose values are strings or booleans.

Commits are made safe for concurrent writers with S3 conditional writes: unless a
locking provider is configured (`AWS_S3_LOCKING_PROVIDER=dynamodb`), facelake sets
`aws_conditional_put=etag`, so delta-rs writes each `_delta_log/N.json` with
`If-None-Match: *` and a second writer of version N is refused by the store and retries
at N+1 (delta-rs 1.x does this by default too; the option states it). The store must
support conditional writes: AWS S3 (since 2024), MinIO, Ceph RGW, R2, moto do.

The options hold secrets. They are never logged, never written to a table (a `runs`
row records a job's arguments, not its storage options) and `Lake`'s repr leaves them
out; errors here name the key at fault, never a value.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from urllib.parse import urlparse

OPTIONS_FILE_VARIABLE = "FACELAKE_STORAGE_OPTIONS"
S3_SCHEMES = ("s3", "s3a")
ENVIRONMENT_KEYS = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_ALLOW_HTTP",
    "AWS_S3_LOCKING_PROVIDER",
    "DELTA_DYNAMO_TABLE_NAME",
)


class StorageOptionsError(ValueError):
    """The storage options file or a value in it cannot be used."""


def is_object_store(root: str) -> bool:
    return "://" in root


def scheme(root: str) -> str:
    return urlparse(root).scheme.lower() if is_object_store(root) else ""


def _text(key: str, value: object, origin: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    raise StorageOptionsError(f"{origin}: option {key!r} must be a string or a boolean, got a {type(value).__name__}")


def load_options_file(path: str) -> dict[str, str]:
    """The options in a JSON file (an object of string or boolean values)."""
    origin = f"{OPTIONS_FILE_VARIABLE}={path}"
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError as error:
        raise StorageOptionsError(f"{origin}: no such file; point {OPTIONS_FILE_VARIABLE} at a JSON file") from error
    except json.JSONDecodeError as error:
        # the message names the position only: the document may hold a secret
        raise StorageOptionsError(f"{origin}: not valid JSON (line {error.lineno}, column {error.colno})") from None
    if not isinstance(data, dict):
        raise StorageOptionsError(f"{origin}: expected a JSON object of options, got a {type(data).__name__}")
    return {str(key): _text(str(key), value, origin) for key, value in data.items()}


def resolve_storage_options(root: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The storage options for the lake at `root` (empty for a local folder)."""
    if not is_object_store(root):
        return {}
    environ = os.environ if environ is None else environ
    options = {key: environ[key] for key in ENVIRONMENT_KEYS if environ.get(key)}
    if "AWS_REGION" not in options and environ.get("AWS_DEFAULT_REGION"):
        options["AWS_REGION"] = environ["AWS_DEFAULT_REGION"]
    if environ.get(OPTIONS_FILE_VARIABLE):
        options.update(load_options_file(environ[OPTIONS_FILE_VARIABLE]))
    if scheme(root) in S3_SCHEMES:
        keys = {key.upper() for key in options}
        if "AWS_S3_LOCKING_PROVIDER" not in keys and not keys & {"AWS_CONDITIONAL_PUT", "CONDITIONAL_PUT"}:
            options["aws_conditional_put"] = "etag"
    return options


def _option(options: Mapping[str, str], *names: str) -> str | None:
    lowered = {key.lower(): value for key, value in options.items()}
    for name in names:
        if lowered.get(name.lower()):
            return lowered[name.lower()]
    return None


def arrow_s3_filesystem(options: Mapping[str, str]):
    """A pyarrow S3FileSystem reaching the same store with the same credentials as delta-rs."""
    from pyarrow.fs import S3FileSystem

    kwargs: dict = {}
    access = _option(options, "AWS_ACCESS_KEY_ID", "aws_access_key_id", "access_key_id")
    secret = _option(options, "AWS_SECRET_ACCESS_KEY", "aws_secret_access_key", "secret_access_key")
    if access and secret:
        kwargs.update(access_key=access, secret_key=secret)
        token = _option(options, "AWS_SESSION_TOKEN", "aws_session_token", "session_token", "AWS_TOKEN")
        if token:
            kwargs["session_token"] = token
    region = _option(options, "AWS_REGION", "aws_region", "region", "AWS_DEFAULT_REGION")
    if region:
        kwargs["region"] = region
    endpoint = _option(options, "AWS_ENDPOINT_URL", "aws_endpoint_url", "endpoint_url", "AWS_ENDPOINT", "endpoint")
    if endpoint:
        parsed = urlparse(endpoint)
        if parsed.scheme in ("http", "https"):
            kwargs.update(endpoint_override=parsed.netloc + parsed.path.rstrip("/"), scheme=parsed.scheme)
        else:
            kwargs["endpoint_override"] = endpoint
    return S3FileSystem(**kwargs)


def arrow_path(uri: str) -> str:
    """`s3://bucket/key` as pyarrow's S3FileSystem names it (`bucket/key`)."""
    parsed = urlparse(uri)
    return f"{parsed.netloc}{parsed.path}"
