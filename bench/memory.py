"""A process's memory as Linux reports it in ``/proc/<pid>/status``."""

from __future__ import annotations

from pathlib import Path


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(f"{field} missing from /proc/{pid}/status")


def peak_bytes(pid: int) -> int:
    """The resident set's high-water mark since the process started (VmHWM)."""
    return _status_kib(pid, "VmHWM") * 1024


def resident_bytes(pid: int) -> int:
    """The resident set now (VmRSS)."""
    return _status_kib(pid, "VmRSS") * 1024


def reset_peak(pid: int) -> None:
    """Start VmHWM again from the current resident set (Linux: clear_refs, 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
