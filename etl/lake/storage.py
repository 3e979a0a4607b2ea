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

Transient errors are retried, a bounded number of times, with exponential backoff;
nothing else is. delta-rs (its object_store client) retries a request on a 5xx answer
(S3's `503 SlowDown`, `500 InternalError`), on a connection it could not open or that
closed before any answer, and, for reads and other idempotent requests, on a timeout or
a reset; never on a 4xx answer (`403 AccessDenied`, `404`, the `412` of a conditional
commit), which surfaces at once. A reset during a commit (`PUT _delta_log/N.json`,
conditional) is not retried either, since the store may have done it: the job fails,
and its rerun redoes what is missing. facelake sets the policy explicitly, unless the
options set it themselves:

| option (delta-rs name)        | default | meaning |
|-------------------------------|---------|---------|
| `max_retries`                 | `10`    | retries of a request after its first attempt (`0`: none) |
| `retry_timeout`               | `120s`  | no retry starts later than this after the first attempt |
| `backoff_config.init_backoff` | `100ms` | the first wait |
| `backoff_config.max_backoff`  | `15s`   | the longest wait |
| `backoff_config.base`         | `2`     | a wait is random between the first wait and `base` x the last |

Ten retries ride out about a minute of throttling of one request (waits of 0.1 s, then
up to 0.2, 0.4 ... 15 s); a request still failing after two minutes is an outage, and
the job had better stop (ingest is resumable) than wait longer. object_store's own
defaults are close (10 retries, 3 minutes); stating them here keeps them from changing
under facelake with a delta-rs upgrade. The durations take humantime units (`ms`, `s`,
`m`, `h`); option names are matched without regard to case, and delta-rs's aliases
(`init_backoff`, `backoff.init_backoff`, ...) count as set.

Reads through pyarrow's S3FileSystem (`Lake.dataset`, hence `Lake.read` and the DuckDB
queries) get the same bound: AWS's standard retry strategy (its own backoff) with
`max_retries + 1` attempts, for throttling, 5xx and network errors only. One gap is
pyarrow's: a ranged read shorter than a 5xx answer's XML body (a small column chunk)
fails with `Failed to flush response stream` and is not retried by pyarrow. On such a
transient error `Lake.read` reads the table again file by file, each file retried on its
own (`with_read_retries`: at most 3 reads of a file, never on a 4xx); `run_query`
repeats the whole query (at most 3 times).

The options hold secrets. They are never logged, never written to a table (a `runs`
row records a job's arguments, not its storage options) and `Lake`'s repr leaves them
out; errors here name the key at fault, never a value.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from urllib.parse import urlparse

from etl.errors import UsageError

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

# The retry policy (see the module docstring): delta-rs's option name -> (facelake's
# default, the aliases delta-rs also accepts for it).
RETRY_DEFAULTS = {
    "max_retries": ("10", ()),
    "retry_timeout": ("120s", ()),
    "backoff_config.init_backoff": ("100ms", ("init_backoff", "backoff.init_backoff")),
    "backoff_config.max_backoff": ("15s", ("max_backoff", "backoff.max_backoff")),
    "backoff_config.base": ("2", ("base", "backoff.base")),
}
_DURATION = re.compile(
    r"^(\s*\d+\s*(nsec|ns|usec|us|msec|ms|seconds|second|sec|s|minutes|minute|min|m|hours|hour|hr|h|days|day|d))+\s*$"
)


class StorageOptionsError(UsageError):
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
    return with_retry_policy(options)


def with_retry_policy(options: Mapping[str, str]) -> dict[str, str]:
    """`options` with facelake's retry policy where they do not set their own, validated.

    A retry option given in any case, or under one of delta-rs's aliases, is kept and
    renamed to the lower-case name delta-rs matches (it matches case-sensitively).
    """
    out: dict[str, str] = {}
    retry_keys = {alias: name for name, (_, aliases) in RETRY_DEFAULTS.items() for alias in (name, *aliases)}
    for key, value in options.items():
        name = retry_keys.get(key.lower())
        if name is None:
            out[key] = value
        elif name in out:
            raise StorageOptionsError(f"retry option {name!r} is set twice (as {key!r} too); keep one")
        else:
            out[name] = value.strip()
    for name, (default, _) in RETRY_DEFAULTS.items():
        out.setdefault(name, default)
    _check_retry_policy(out)
    return out


def _check_retry_policy(options: Mapping[str, str]) -> None:
    if not options["max_retries"].isdigit():
        raise StorageOptionsError("option 'max_retries' must be a whole number >= 0 (0 turns retries off)")
    for name in ("retry_timeout", "backoff_config.init_backoff", "backoff_config.max_backoff"):
        if not _DURATION.match(options[name]):
            raise StorageOptionsError(f"option {name!r} must be a duration such as '100ms', '15s' or '2m'")
    try:
        base = float(options["backoff_config.base"])
    except ValueError:
        base = 0.0
    if not base >= 1.0:
        raise StorageOptionsError("option 'backoff_config.base' must be a number >= 1, e.g. '2'")


def max_attempts(options: Mapping[str, str]) -> int:
    """Attempts per request (the first one and its retries) under the options' retry policy."""
    return int(with_retry_policy(options)["max_retries"]) + 1


def _option(options: Mapping[str, str], *names: str) -> str | None:
    lowered = {key.lower(): value for key, value in options.items()}
    for name in names:
        if lowered.get(name.lower()):
            return lowered[name.lower()]
    return None


def arrow_s3_filesystem(options: Mapping[str, str]):
    """A pyarrow S3FileSystem reaching the same store, with the same credentials and retry bound, as delta-rs."""
    from pyarrow.fs import AwsStandardS3RetryStrategy, S3FileSystem

    # the same bound as delta-rs's: max_retries + 1 attempts, transient errors only
    kwargs: dict = {"retry_strategy": AwsStandardS3RetryStrategy(max_attempts=max_attempts(options))}
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


# pyarrow's S3 errors that a repeat of the same read can cure: throttling, 5xx, a broken
# stream (a 5xx whose body did not fit the ranged read's buffer: pyarrow does not retry
# that itself), a reset or a timeout. A 4xx (AccessDenied, NoSuchKey, 412) is never here.
TRANSIENT_READ_MARKS = (
    "Failed to flush response stream",
    "SlowDown",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeout",
    "HTTP response code: 500",
    "HTTP response code: 502",
    "HTTP response code: 503",
    "HTTP response code: 504",
    "Connection reset",
    "Timeout was reached",
    "timed out",
)


def is_transient_read_error(error: BaseException) -> bool:
    return isinstance(error, Exception) and any(mark in str(error) for mark in TRANSIENT_READ_MARKS)


READ_ATTEMPTS = 3  # whole reads; each request in them already had max_retries + 1 attempts


def with_read_retries(read, *, options: Mapping[str, str], what: str):
    """`read()`, repeated on a transient error with exponential backoff, at most 3 times in all (once when
    `max_retries` is 0): for the errors pyarrow does not retry itself (see TRANSIENT_READ_MARKS).

    Only for reads (repeating them changes nothing); any other error surfaces at once.
    """
    import logging
    import random
    import time

    attempts = min(READ_ATTEMPTS, max_attempts(options))
    for attempt in range(1, attempts + 1):
        try:
            return read()
        except Exception as error:  # noqa: BLE001 - filtered just below
            if attempt == attempts or not is_transient_read_error(error):
                raise
            delay = min(15.0, 0.1 * 2 ** (attempt - 1)) * (0.5 + random.random())
            logging.getLogger(f"facelake.{__name__}").warning(
                "%s: transient storage error (%s); retrying in %.2f s (attempt %d of %d)",
                what,
                str(error).splitlines()[0][:200],
                delay,
                attempt + 1,
                attempts,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")
