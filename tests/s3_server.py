"""A local S3-compatible server for the tests: moto's, on 127.0.0.1, in its own process.

Run as `python tests/s3_server.py`; it prints `PORT <n>` once it listens on a free port
and serves until its stdin closes (the test process ends) or it gets SIGTERM.

Two things about moto that the tests depend on:
- It runs in a process of its own: delta-rs holds the GIL during some calls (e.g.
  `DeltaTable.is_deltatable`), so a moto thread inside the test process would never get
  to answer and the call would hang until its 180 s timeout.
- Its `If-None-Match: *` check on PutObject is a look-up followed by a write, not one
  atomic step, so two simultaneous conditional PUTs of one key could both succeed. AWS
  S3 (and MinIO) make the check atomic; so does this wrapper, by serialising PutObject.
  delta-rs's commit safety rests on exactly this check (`_delta_log/N.json` created
  only if absent), and the concurrency tests must exercise the store as S3 behaves.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading


def main() -> int:
    from moto.s3 import responses
    from moto.server import ThreadedMotoServer

    lock = threading.Lock()
    put_object = responses.S3Response.put_object

    def atomic_put_object(self):
        with lock:
            return put_object(self)

    responses.S3Response.put_object = atomic_put_object
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    print(f"PORT {port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
