"""A fault-injecting HTTP proxy in front of the tests' S3 server, in its own process.

Run as `python tests/s3_fault_proxy.py --upstream http://127.0.0.1:PORT [options]`; it
prints `PORT <n>` once it listens on a free port of 127.0.0.1 and serves until its stdin
closes (the test process ends) or it gets SIGTERM. Point `AWS_ENDPOINT_URL` at it. Only
the standard library: it starts in a fraction of a second.

Faults (`--faults`, comma-separated kinds, one picked per injected fault):
- `slowdown`: `503 SlowDown` with S3's XML error body (throttling);
- `internal`: `500 InternalError` with S3's XML error body;
- `drop`: the connection is closed without an answer (a proxy or load balancer that
  drops the request);
- `reset`: the connection is reset (TCP RST) without an answer;
- `lost`: the request IS forwarded and done by the store, and its answer is dropped
  (connection closed): the one kind that happens after forwarding, never by default
  (see below).
Which requests fail is deterministic: with `--share P` a request fails when a hash of
(`--seed`, method, path and query, Range header, how many times this same request was
seen before) falls below P, so the same requests fail whatever the interleaving of
concurrent clients; with `--every N` every Nth request fails instead. A request that
just failed is not failed again (`--max-consecutive 1`, the default), so a client
that retries at all always gets through; `--max-consecutive 0` lifts that limit (every
attempt can fail: to see a retry bound at work). `--match REGEX` limits faults to the
requests whose `METHOD /path?query` matches; `--times N` fails one request at most N
times in all; `--budget N` stops after N faults.

`--short-range BYTES`: a ranged GET of fewer bytes gets `drop` instead of a 5xx. pyarrow's
S3FileSystem (the AWS C++ SDK) reads a range into a buffer of exactly its size and writes
an error answer's body there too: when the XML body is longer than the range, the read
fails with `INTERNAL_FAILURE ... Failed to flush response stream`, which is not retried
(the status code is lost). A 503 on a 140-byte column chunk is enough. Real S3 error
bodies are a few hundred bytes, so this is a property of pyarrow reads against S3, not
of this proxy; pyarrow does not retry it, facelake's `Lake.read` and `run_query` do
(`etl.lake.storage.with_read_retries`), as `tests/test_s3_faults.py` shows. The option lets a
test fault every other request of a pyarrow client that has no such retry.

`--deny CODE` answers every request with `403 CODE` (e.g. `AccessDenied`,
`SignatureDoesNotMatch`): a permanent error, which must not be retried.

Every fault but `lost` happens BEFORE the request is forwarded: the store never sees a
request the client was told failed. That is how throttling (503 SlowDown) and a refused
connection behave, and the only kind a client can retry blindly. `lost`, a write that
reached the store and whose answer was lost, is opt-in: object_store retries a request
whose connection closed before any answer (whatever its method), so a conditional
commit `PUT _delta_log/N.json` (`If-None-Match: *`) comes back `412 Precondition
Failed` on its own earlier copy, and delta-rs takes its own commit for a concurrent
writer's. What that does to a table is delta-rs's conflict handling, not a transient
error; tests/test_s3_faults.py shows what facelake's commits make of it.

Control (never forwarded, never failed): `GET /__faults` answers JSON counts: requests
seen, forwarded, faults injected by kind, the most attempts of one distinct request,
and the list of injected faults (method, path, range, kind); `POST /__faults` with a
JSON object changes the settings given (`share`, `every`, `seed`, `faults`,
`max_consecutive`, `times`, `budget`, `match`, `short_range`, `deny`) and with `"reset": true`
zeroes the counts.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import re
import signal
import socket
import struct
import sys
import threading
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

KINDS = ("slowdown", "internal", "drop", "reset", "lost")
ERRORS = {
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
    "internal": (500, "InternalError", "We encountered an internal error. Please try again."),
}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "expect"}
CONTROL_PATH = "/__faults"
DEFAULTS = {
    "share": 0.0,
    "every": 0,
    "seed": 0,
    "faults": ["slowdown", "internal", "drop"],
    "max_consecutive": 1,
    "times": 0,
    "budget": 0,
    "match": None,
    "short_range": 0,
    "deny": None,
}


class FaultPlan:
    """Which requests fail, and the counts of what happened; shared by every handler thread."""

    def __init__(self, **settings) -> None:
        self.lock = threading.Lock()
        self.configure(**{**DEFAULTS, **settings})
        self.reset()

    def configure(self, **settings) -> None:
        """Change the given settings (the others stay); an unknown name or a bad value is refused."""
        unknown = sorted(set(settings) - set(DEFAULTS))
        if unknown:
            raise ValueError(f"unknown settings {unknown}; known: {sorted(DEFAULTS)}")
        faults = list(settings.get("faults", getattr(self, "faults", ())))
        if not faults or any(kind not in KINDS for kind in faults):
            raise ValueError(f"faults must be a non-empty list of {KINDS}, got {faults!r}")
        current = {name: getattr(self, name, DEFAULTS[name]) for name in DEFAULTS}
        merged = {**current, **settings}
        self.faults = faults
        self.share = float(merged["share"])
        self.every = int(merged["every"])
        self.seed = int(merged["seed"])
        self.max_consecutive = int(merged["max_consecutive"])
        self.times = int(merged["times"])
        self.budget = int(merged["budget"])
        self.short_range = int(merged["short_range"])
        self.deny = merged["deny"] or None
        self.match = merged["match"] or None
        self._match = re.compile(self.match) if self.match else None

    def reset(self) -> None:
        self.requests = 0
        self.forwarded = 0
        self.by_kind: Counter = Counter()
        self.injected: list[dict] = []
        self.seen: Counter = Counter()  # occurrences of each distinct request
        self.streak: Counter = Counter()  # consecutive faults of each distinct request
        self.failed: Counter = Counter()  # faults of each distinct request, in all

    def decide(self, method: str, path: str, range_header: str | None) -> str | None:
        """The fault to inject on this request, or None to forward it."""
        signature = f"{method} {path} {range_header or ''}"
        with self.lock:
            self.requests += 1
            occurrence = self.seen[signature]
            self.seen[signature] += 1
            if self.deny:
                kind = "deny"
            elif (
                self._match
                and not self._match.search(f"{method} {path}")
                or self.max_consecutive
                and self.streak[signature] >= self.max_consecutive
                or self.times
                and self.failed[signature] >= self.times
                or self.budget
                and sum(self.by_kind.values()) >= self.budget
            ):
                kind = None
            else:
                kind = self._pick(signature, occurrence)
            if kind in ERRORS and 0 < _range_length(range_header) < self.short_range:
                kind = "drop"  # see `short_range` in the module docstring
            if kind in (None, "lost"):
                self.forwarded += 1
            if kind is None:
                self.streak.pop(signature, None)
                return None
            self.streak[signature] += 1
            self.failed[signature] += 1
            self.by_kind[kind] += 1
            self.injected.append({"method": method, "path": path, "range": range_header, "kind": kind})
            return kind

    def _pick(self, signature: str, occurrence: int) -> str | None:
        digest = hashlib.blake2b(f"{self.seed}|{signature}|{occurrence}".encode(), digest_size=16).digest()
        draw, choice = struct.unpack(">QQ", digest)
        if self.every:
            fail = self.requests % self.every == 0
        else:
            fail = draw / 2**64 < self.share
        return self.faults[choice % len(self.faults)] if fail else None

    def report(self) -> dict:
        with self.lock:
            return {
                "requests": self.requests,
                "forwarded": self.forwarded,
                "faults": sum(self.by_kind.values()),
                "by_kind": dict(self.by_kind),
                "injected": list(self.injected),
                "max_attempts_of_one_request": max(self.seen.values(), default=0),
                "settings": {name: getattr(self, name) for name in DEFAULTS},
            }


def _range_length(header: str | None) -> int:
    """Bytes asked for by a `Range: bytes=A-B` header (0 when absent or open-ended)."""
    match = re.fullmatch(r"\s*bytes=(\d+)-(\d+)\s*", header or "")
    return int(match[2]) - int(match[1]) + 1 if match else 0


def _error_body(code: str, message: str, resource: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        f"<Resource>{resource}</Resource><RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>"
    ).encode()


def make_handler(plan: FaultPlan, upstream: tuple[str, int]):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as S3 clients expect

        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            pass

        def _body(self) -> bytes:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status: int, body: bytes, headers: list[tuple[str, str]] = ()) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            if not any(name.lower() == "content-length" for name, _ in headers):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)

        def _control(self, body: bytes) -> None:
            if self.command == "POST":
                try:
                    settings = json.loads(body or b"{}")
                    reset = settings.pop("reset", False)
                    with plan.lock:
                        plan.configure(**settings)
                        if reset:
                            plan.reset()
                except (ValueError, TypeError) as error:
                    self._send(400, str(error).encode(), [("Content-Type", "text/plain")])
                    return
            self._send(200, json.dumps(plan.report()).encode(), [("Content-Type", "application/json")])

        def _handle(self) -> None:
            body = self._body()  # the whole request is read first: a fault never cuts a body in half
            if self.path.split("?")[0] == CONTROL_PATH:
                self._control(body)
                return
            kind = plan.decide(self.command, self.path, self.headers.get("Range"))
            if kind is None:
                self._forward(body)
            elif kind == "lost":  # the store does the request; its answer never reaches the client
                self._forward(body, answer=False)
                self.close_connection = True
            elif kind in ERRORS or kind == "deny":
                status, code, message = ERRORS.get(kind, (403, plan.deny, "Access Denied"))
                self._send(
                    status, _error_body(code, message, self.path.split("?")[0]), [("Content-Type", "application/xml")]
                )
            else:
                self.close_connection = True
                if kind == "reset":  # linger 0: close() sends RST, not FIN
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.wfile.close()
                    self.rfile.close()
                    self.connection.close()
                    self.wfile = io.BytesIO()  # for the server's own flush after the handler
                # else no answer at all: the handler returns and the server closes the socket (FIN)

        def _forward(self, body: bytes, *, answer: bool = True) -> None:
            headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
            if body or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(body))
            connection = http.client.HTTPConnection(*upstream, timeout=120)
            try:
                connection.request(self.command, self.path, body=body or None, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                if not answer:
                    return
                answer = [(name, value) for name, value in response.getheaders() if name.lower() not in HOP_BY_HOP]
                if self.command != "HEAD":
                    answer = [(n, v) for n, v in answer if n.lower() != "content-length"]
                    answer.append(("Content-Length", str(len(payload))))
                self._send(response.status, payload, answer)
            except OSError as error:  # the store itself is down: say so as a 502, without retrying here
                self._send(502, f"upstream error: {error}".encode(), [("Content-Type", "text/plain")])
            finally:
                connection.close()

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # a client that went away is no error of ours


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="the S3 server, http://HOST:PORT")
    parser.add_argument("--share", type=float, default=0.0, help="share of requests to fail, 0..1 (seeded)")
    parser.add_argument("--every", type=int, default=0, help="fail every Nth request instead of a share")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--faults", default="slowdown,internal,drop", help=f"comma-separated, of {KINDS}")
    parser.add_argument(
        "--max-consecutive",
        type=int,
        default=1,
        help="faults in a row on one request (default 1: its retry goes through; 0: no limit)",
    )
    parser.add_argument("--times", type=int, default=0, help="faults per distinct request in all (0: no limit)")
    parser.add_argument("--budget", type=int, default=0, help="faults in all, then none (0: no limit)")
    parser.add_argument(
        "--match", default=None, help="only requests whose 'METHOD /path?query' matches this regex fail"
    )
    parser.add_argument(
        "--short-range", type=int, default=0, help="a ranged GET of fewer bytes gets `drop` instead of a 5xx (0: off)"
    )
    parser.add_argument("--deny", default=None, help="answer every request 403 with this S3 error code")
    args = parser.parse_args(argv)
    target = urlparse(args.upstream)
    plan = FaultPlan(
        share=args.share,
        every=args.every,
        seed=args.seed,
        faults=args.faults.split(","),
        max_consecutive=args.max_consecutive,
        times=args.times,
        budget=args.budget,
        match=args.match,
        short_range=args.short_range,
        deny=args.deny,
    )
    server = Server(("127.0.0.1", 0), make_handler(plan, (target.hostname, target.port or 80)))
    print(f"PORT {server.server_address[1]}", flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
