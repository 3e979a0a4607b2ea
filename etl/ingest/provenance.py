"""Where this process runs, as the `processed_on` column records it (schemas/provenance.py).

Called inside a Ray task (ingest's per-video task, register's photo batches): the Ray
node's id and address, the host name, and the GPUs Ray assigned to the task with their
model names. Outside Ray (a library call in a notebook) only the host is known.
"""

from __future__ import annotations

import functools
import logging
import socket
import subprocess

log = logging.getLogger(f"facelake.{__name__}")


@functools.cache
def _gpu_names() -> dict[str, str]:
    """Physical GPU index -> model name on this host (once per process; none without nvidia-smi)."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    names = {}
    for line in out.splitlines():
        index, _, name = line.partition(",")
        if name:
            names[index.strip()] = name.strip()
    return names


def processing_node() -> dict:
    """This task's `processed_on` value."""
    here = {"node_id": None, "host": socket.gethostname(), "node_ip": None, "gpus": []}
    try:
        import ray
    except ImportError:
        return here
    if not ray.is_initialized():
        return here
    context = ray.get_runtime_context()
    here["node_id"] = context.get_node_id()
    here["node_ip"] = ray.util.get_node_ip_address()
    gpu_ids = [str(g) for g in context.get_accelerator_ids().get("GPU", [])]
    if gpu_ids:
        names = _gpu_names()
        here["gpus"] = [f"{g}: {names[g]}" if g in names else g for g in gpu_ids]
    log.debug("processing on %s", here)
    return here
