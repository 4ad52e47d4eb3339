"""Peak resident memory of the service processes, from Linux's /proc/<pid>/status (VmHWM)."""

from pathlib import Path


def vm_hwm_kib(status: str) -> int | None:
    """The `VmHWM:` line of a /proc/<pid>/status text, in KiB (the kernel's own unit)."""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def vm_rss_kib(status: str) -> int | None:
    """The `VmRSS:` line (resident now) of a /proc/<pid>/status text, in KiB."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def resident_mb(pid: int) -> float | None:
    """The process's resident set now in MB; None when it is gone (or not Linux)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kib = vm_rss_kib(status)
    return None if kib is None else kib * 1024 / 1e6


def reset_peak(pid: int) -> bool:
    """Set the process's peak (VmHWM) to its resident size now (Linux >= 4.0, our own processes),
    so the next `peak_rss_mb` is the peak of what came after. False when the kernel refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set so far in MB (10^6 bytes); None when it is gone (or not Linux)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kib = vm_hwm_kib(status)
    return None if kib is None else kib * 1024 / 1e6


class PeakMemory:
    """The largest peak RSS seen per service over the run (several processes may run one service)."""

    def __init__(self) -> None:
        self.by_service: dict[str, float] = {}
        self.where: dict[str, str] = {}

    def observe(self, service: str, pid: int | None, during: str) -> None:
        """Read the peak now: call it while the process still runs, just before stopping it."""
        if pid is None:
            return
        mb = peak_rss_mb(pid)
        if mb is not None and mb > self.by_service.get(service, 0.0):
            self.by_service[service] = mb
            self.where[service] = during
