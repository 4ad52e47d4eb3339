"""A consumer that fails for good stops the whole worker, which then exits non-zero.

Left alone, a crashed Faust agent or consumer task leaves a live process that consumes nothing
(docs/reliability.md); a supervisor (systemd, Kubernetes, `crm up`) only helps a process that
exits. The worker is stopped the way an operator would stop it (SIGTERM: the other parts finish
what they hold), and `exit_code()` then tells `run_alerts` to exit with failure.
"""

import os
import signal
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)

EXIT_CRASHED = 70  # EX_SOFTWARE


def stop_this_process() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


class Shutdown:
    def __init__(self, stop_worker: Callable[[], None] = stop_this_process) -> None:
        self._stop_worker = stop_worker
        self.failure: BaseException | None = None

    def fail(self, component: str, error: BaseException) -> None:
        """Record the first failure and stop the worker once."""
        log.critical("alerts.component_crashed", component=component, error=repr(error), exc_info=error)
        if self.failure is None:
            self.failure = error
            self._stop_worker()

    def exit_code(self) -> int:
        return 0 if self.failure is None else EXIT_CRASHED
