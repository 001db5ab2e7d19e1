"""A server process and everything it started, from ``/proc``: its CPU time, and stopping it.

Servers spawn workers (LitServe's inference and API processes, BentoML's service workers in
sessions of their own), so a server's cost is the CPU of its whole family: every process
descended from it, plus any its session still holds after a parent died and the orphans were
re-parented. Linux only. Used by ``benchmarks/peers.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["family", "family_cpu_s", "own_cpu_s", "stop_family"]


def _stats() -> Iterator[tuple[int, list[str]]]:
    """Each process's ``/proc/PID/stat`` fields after the command name (state is field 0)."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                text = Path(entry.path, "stat").read_text()
            except OSError:  # it exited while we looked
                continue
            yield int(entry.name), text[text.rindex(")") + 2 :].split()


def _family_stats(root: int) -> dict[int, list[str]]:
    stats = dict(_stats())
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    found = {pid for pid, fields in stats.items() if int(fields[3]) == root}  # its session
    todo = [root, *found]
    while todo:
        pid = todo.pop()
        if pid in stats:
            found.add(pid)
        todo += [c for c in children.get(pid, []) if c not in found]
    return {pid: stats[pid] for pid in found if stats[pid][0] != "Z"}


def family(root: int) -> list[int]:
    """The live processes descended from ``root`` or in its session, ``root`` included."""
    return sorted(_family_stats(root))


def family_cpu_s(root: int) -> float:
    """User + system CPU seconds of :func:`family`'s processes so far."""
    ticks = sum(int(f[11]) + int(f[12]) for f in _family_stats(root).values())
    return ticks / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """User + system CPU seconds of this process."""
    times = os.times()
    return times.user + times.system


def stop_family(process: subprocess.Popen[bytes], grace_s: float = 30.0) -> None:
    """SIGTERM every process group of ``process``'s family, then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        stats = _family_stats(process.pid)
        if not stats:
            break
        groups = {int(fields[2]) for fields in stats.values()} - {0, 1, os.getpgrp()}
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _family_stats(process.pid):
            time.sleep(0.1)
    process.wait(timeout=10)
