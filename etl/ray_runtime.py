"""Where jobs get their Ray: a cluster when an address is given (or RAY_ADDRESS is set),
else a local Ray started in-process with as many CPUs as the job has workers."""

from __future__ import annotations

import logging
import os
import signal
import threading

log = logging.getLogger(f"facelake.{__name__}")

# whether Ray workers' output reaches the driver's stderr: yes for a library call; the command
# line sets it from --verbose (jobs.common.logs.configure_output), its chatter otherwise stays in Ray's logs
_workers_to_driver = True


def show_worker_output(show: bool) -> None:
    """Whether the next `init_ray` forwards workers' output to this process's stderr."""
    global _workers_to_driver
    _workers_to_driver = show


# Quiet TensorFlow's C++ start-up chatter in every worker's log.
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "1"}


def _raylet_messages_to_logging() -> None:
    """Ray prints the messages its raylets push to the driver (e.g. "N PYTHON worker processes
    have been started ... the maximum expected startup concurrency") on stdout, whatever
    log_to_driver says, and stdout is the job's results. Send them to logging instead: the log
    file, and the terminal with --verbose. Ray's own worker output is left as it was."""
    import ray._private.worker as ray_worker

    printer = ray_worker.print_to_stdstream
    if getattr(printer, "facelake_routed", False):
        return
    # not under "ray": Ray's own logger does not propagate to the root, where the log file is
    raylet_log = logging.getLogger("raylet")

    def print_to_stdstream(data, ignore_prefix: bool):
        if data.get("pid") == "raylet":
            for line in data.get("lines", []):
                raylet_log.warning("%s", line)
            return
        printer(data, ignore_prefix)

    print_to_stdstream.facelake_routed = True
    ray_worker.print_to_stdstream = print_to_stdstream


def init_ray(*, address: str | None, num_cpus: int):
    import ray

    if ray.is_initialized():
        return ray
    _raylet_messages_to_logging()
    # ray.init installs its own SIGTERM handler in the driver (exit at once); keep the
    # job's, so SIGTERM still stops the job cleanly and records the run as interrupted
    sigterm_handler = (
        signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    )
    address = address or os.environ.get("RAY_ADDRESS")
    log_to_driver = _workers_to_driver
    if address:
        log.info("connecting to the Ray cluster at %s", address)
        # a submitted job's runtime_env may set these already (the driver then has them);
        # Ray refuses to merge two runtime envs that set the same variable
        env_vars = {name: value for name, value in WORKER_ENV.items() if name not in os.environ}
        ray.init(
            address=address,
            runtime_env={"env_vars": env_vars} if env_vars else None,
            logging_level=logging.WARNING,
            log_to_driver=log_to_driver,
        )
    else:
        # A local Ray's workers inherit this process's environment. Passing it as a
        # runtime_env instead would make Ray start new workers through its runtime-env
        # agent rather than use the ones it prestarts, adding seconds to every run.
        for name, value in WORKER_ENV.items():
            os.environ.setdefault(name, value)
        log.info("starting a local Ray with %d CPUs", num_cpus)
        # "local": a new Ray of our own even when `ray start` runs on this machine (a plain
        # ray.init() would join that cluster, and refuse num_cpus there)
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=log_to_driver,
        )
    if callable(sigterm_handler):
        signal.signal(signal.SIGTERM, sigterm_handler)
    return ray
