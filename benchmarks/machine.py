"""What the machine did while a benchmark measured: its load, and whether it was idle.

Wall times on a shared virtual machine move by half over hours. Two readings tell a quiet machine
from a busy one: the CPU time other processes took (the machine's busy time minus the benchmark's
own), and *steal*, the time the hypervisor gave this machine's cores to someone else. A figure
read while either was large is not one from an idle machine.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

__all__ = ["MachineWindow", "load"]


def load() -> str:
    """The load averages, as one phrase."""
    try:
        return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "load average unknown"


def _cpu_times() -> tuple[float, float, float] | None:
    """Seconds (busy, steal, all) summed over the cores since boot; None without /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq
    return busy / tick, steal / tick, (busy + idle + iowait + steal) / tick


def _own_cpu() -> float:
    """CPU seconds of this process and its waited-for children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


@dataclass
class MachineWindow:
    """The machine's CPU use between :meth:`__enter__` and :meth:`__exit__`."""

    others_s: float = float("nan")  # CPU seconds of processes outside this benchmark
    steal_share: float = float("nan")  # of all the cores' time
    wall_s: float = float("nan")
    own_extra_s: float = 0.0  # the benchmark's CPU in processes it did not wait for (set before exit)

    def __enter__(self) -> MachineWindow:
        self._start, self._own = _cpu_times(), _own_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        end, own = _cpu_times(), _own_cpu()
        if self._start is None or end is None:
            return
        busy, steal, total = (b - a for a, b in zip(self._start, end, strict=True))
        self.others_s = max(busy - (own - self._own) - self.own_extra_s, 0.0)
        self.steal_share = steal / total if total > 0 else 0.0
        self.wall_s = total / (os.cpu_count() or 1)

    def summary(self) -> str:
        """One line: the other processes' CPU and the stolen share, and whether that is idle."""
        if self.steal_share != self.steal_share:  # nan: no /proc/stat here
            return "machine idle: unknown (no /proc/stat)"
        idle = self.steal_share < 0.02 and self.others_s < 0.05 * self.wall_s
        return (f"machine {'idle' if idle else 'NOT idle'}: other processes {self.others_s:.1f} s "
                f"CPU over {self.wall_s:.0f} s, steal {100 * self.steal_share:.1f}% of core time")
