"""Where a load phase's CPU went on this host: the whole host's busy time and each part's (the
service's process tree, the load generator, PostgreSQL, RabbitMQ, the workers).

The write benchmarks (B4, B6) run every part on the same cores. When the host is busy on all of
them, the rate measured is the host's, not the service's; the issue's fallback figure is then
the service's CPU per request, and this says how the rest of the host's time was spent.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable

from loop import cpu_seconds

TICK = os.sysconf("SC_CLK_TCK")


def host_busy_seconds() -> float:
    """CPU seconds the whole host spent busy so far (every core; ``/proc/stat``: all but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / TICK


def cpu_by_command() -> dict[str, float]:
    """CPU seconds so far of every process, summed by command name."""
    totals: dict[str, float] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                text = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        totals[name] = totals.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / TICK
    return totals


def own_cpu_seconds() -> float:
    """This process's own threads (the load generator), without its children (the service, workers)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


#: the parts beside the service: what they spend per item bounds the host whatever the service does
OTHER_PARTS = ("generator", "postgresql", "rabbitmq", "workers")


class CpuShares:
    """Around a load phase: the CPU seconds of the host and of each part meanwhile (one scan of
    ``/proc`` per snapshot: PostgreSQL and RabbitMQ are read from it by their command names)."""

    def __init__(self, service_pid: int, worker_pids: Callable[[], list[int]] = list) -> None:
        self.service_pid = service_pid
        self.worker_pids = worker_pids

    def _read(self) -> tuple[dict[str, float], dict[str, float]]:
        """Each part's CPU seconds so far, and every command's."""
        commands = cpu_by_command()
        parts = {
            "service": cpu_seconds(self.service_pid),
            "generator": own_cpu_seconds(),
            "postgresql": commands.get("postgres", 0.0),
            "rabbitmq": commands.get("beam.smp", 0.0),
            "workers": sum(cpu_seconds(pid) for pid in self.worker_pids()),
            "host": host_busy_seconds(),
        }
        return parts, commands

    def __enter__(self) -> CpuShares:
        self.started = time.monotonic()
        self.before, self.commands_before = self._read()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.wall = time.monotonic() - self.started
        after, commands = self._read()
        # the busiest commands meanwhile (processes that ended are missing: their time is "other")
        spent = {name: commands[name] - self.commands_before.get(name, 0.0) for name in commands}
        self.by_command = {name: round(s, 2) for name, s in sorted(spent.items(), key=lambda kv: -kv[1])[:8]}
        self.seconds = {name: after[name] - self.before[name] for name in after}
        self.seconds["other"] = max(0.0, self.seconds["host"] - sum(
            v for k, v in self.seconds.items() if k != "host"))

    def cores(self) -> dict[str, float]:
        """Each part's average number of busy cores over the phase."""
        return {name: round(s / self.wall, 2) for name, s in self.seconds.items()}

    def ms_per(self, items: int) -> dict[str, float]:
        """Each part's CPU milliseconds per item (a submit, a job)."""
        return {name: round(1000 * s / items, 2) for name, s in self.seconds.items()} if items else {}

    def ceiling_without_service(self, items: int) -> float | None:
        """Items per second this host could reach if the service cost nothing: its cores over
        what the other parts (generator, PostgreSQL, RabbitMQ, workers) spent per item."""
        others = self._others_seconds()
        return round((os.cpu_count() or 1) * items / others, 1) if items and others else None

    def service_budget_ms(self, items: int, rate: float) -> float | None:
        """The service CPU per item (ms) that this host would leave at ``rate`` items/s, the other
        parts costing what they did here; negative: out of reach whatever the service does."""
        if not items or rate <= 0:
            return None
        others_ms = 1000 * self._others_seconds() / items
        return round(1000 * (os.cpu_count() or 1) / rate - others_ms, 2)

    def _others_seconds(self) -> float:
        return sum(self.seconds[k] for k in OTHER_PARTS)

    def saturated(self) -> bool:
        """Whether the host was busy on (nearly) all its cores: its rate is then the host's limit."""
        return self.seconds["host"] / self.wall >= 0.9 * (os.cpu_count() or 1)
