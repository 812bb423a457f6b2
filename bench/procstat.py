"""CPU time of processes from /proc, for the database-ceiling benches (dbceiling, fastfail, hotwallet).

CPU is read as utime + stime (clock ticks) of each process, before and after a run: a process that
exits in between counts what it had at the last read. The load average goes with every figure,
because the machine is shared and a figure taken under load reads higher.
"""

import os
import subprocess

TICK = os.sysconf("SC_CLK_TCK")
# PostgreSQL's own processes that work for every backend (WAL, buffers): their CPU is part of a write's cost.
PG_AUX = ("walwriter", "background writer", "checkpointer")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def tree(pid: int) -> list[int]:
    """pid and its descendants (uvicorn's workers under its supervisor)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as f:
                todo.extend(int(child) for child in f.read().split())
        except OSError:
            pass
    return found


def machine_busy_seconds() -> float:
    """All cores' non-idle time so far, in seconds (the first line of /proc/stat)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICK


def loadavg() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


def postgres_pids(database: str, psql: tuple[str, ...] = ("psql", "-h", "127.0.0.1", "-U", "postgres")) -> dict:
    """{"backends": pids connected to `database`, "aux": PostgreSQL's WAL writer, bgwriter, checkpointer}."""
    query = (
        "SELECT pid, coalesce(datname, ''), backend_type FROM pg_stat_activity "
        f"WHERE (datname = '{database}' AND pid <> pg_backend_pid()) OR backend_type IN {PG_AUX!r}"
    )
    out = subprocess.run([*psql, "-d", "postgres", "-AtF", "|", "-c", query], capture_output=True, text=True,
                         check=True).stdout
    backends, aux = [], []
    for line in out.splitlines():
        pid, datname, backend_type = line.split("|")
        (backends if datname == database and backend_type == "client backend" else aux).append(int(pid))
    return {"backends": backends, "aux": aux}


def wal_bytes(psql: tuple[str, ...] = ("psql", "-h", "127.0.0.1", "-U", "postgres")) -> int:
    """The cluster's WAL position in bytes: a difference is WAL written meanwhile, by every database."""
    out = subprocess.run([*psql, "-d", "postgres", "-Atc", "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')"],
                         capture_output=True, text=True, check=True).stdout
    return int(float(out.strip()))


class Sampler:
    """CPU seconds of named groups of pids between start() and stop()."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.before: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        reads = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in self.groups.items()}
        reads["machine"] = machine_busy_seconds()
        return reads

    def start(self) -> None:
        self.before = self._read()

    def stop(self) -> dict[str, float]:
        after = self._read()
        return {name: round(after[name] - self.before[name], 3) for name in after}
