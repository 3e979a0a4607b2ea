"""One line for an object store's refusal, from the multi-line errors delta-rs and pyarrow raise.

delta-rs (object_store) raises `OSError("Generic S3 error")` whose text continues over several
coloured lines down to the HTTP status and the store's XML body; pyarrow says
"AWS Error ACCESS_DENIED during ListObjectsV2 operation: Access Denied". A user needs the
status and the store's code on the line they read, not only "Generic S3 error". URLs are left
out on purpose: the user knows the lake's address and a request URL could carry a signature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STATUS = re.compile(r"^(\d{3}) [A-Za-z][A-Za-z ]*$")
_XML_CODE = re.compile(r"<Code>([^<]+)</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]+)</Message>")
_OPERATION = re.compile(r"^Error performing (\w+ request)")
_ARROW = re.compile(r"AWS Error (\w+) during (\w+) operation: ([^\n]+)")
# The HTTP statuses and store codes that no retry can fix: the credentials or the policy must change.
_DENIED_STATUSES = {"401", "403"}
_DENIED_CODES = {
    "ACCESS_DENIED",
    "AccessDenied",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "InvalidToken",
    "AllAccessDisabled",
}


@dataclass(frozen=True)
class StorageRefusal:
    line: str  # one line: what was refused, the status and the store's own code and message
    denied: bool  # credentials or permissions: the user must act, a rerun alone will not help


def describe_storage_error(error: BaseException) -> StorageRefusal | None:
    """A one-line account of an object store's refusal, or None when `error` is not one."""
    if not isinstance(error, OSError):
        return None
    text = _ANSI.sub("", str(error))
    arrow = _ARROW.search(text)
    if arrow:
        code, operation, message = arrow.groups()
        return StorageRefusal(
            f"object storage refused {operation}: {code} ({message.strip()})", denied=code in _DENIED_CODES
        )
    parts = [line.strip().lstrip("↳").strip() for line in text.splitlines()]
    parts = [part for part in parts if part]
    status = next((m.group(0) for part in parts if (m := _STATUS.match(part))), None)
    if status is None:
        return None
    operation = next((m.group(1) for part in parts if (m := _OPERATION.match(part))), "a request")
    code, message = _XML_CODE.search(text), _XML_MESSAGE.search(text)
    detail = ": ".join(m.group(1) for m in (code, message) if m)
    line = f"object storage refused {operation}: {status}" + (f" ({detail})" if detail else "")
    denied = status[:3] in _DENIED_STATUSES or bool(code and code.group(1) in _DENIED_CODES)
    return StorageRefusal(f"{parts[0]}: {line}" if parts[0] != status else line, denied=denied)
