"""Per-server counters from HAProxy's stats socket (`show stat`): who answered how many requests."""

import csv
import io
import socket

COUNTERS = ("stot", "hrsp_2xx", "hrsp_4xx", "hrsp_5xx", "eresp", "econ", "chkdown", "downtime")


def read(sock_path: str, backend: str = "gateways") -> dict[str, dict]:
    """server name → {status: UP/DOWN, counters...} for `backend`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(sock_path)
        conn.sendall(b"show stat\n")
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    text = b"".join(chunks).decode().lstrip("# ")
    servers = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["pxname"] == backend and row["svname"] not in ("FRONTEND", "BACKEND"):
            servers[row["svname"]] = {"status": row["status"], **{c: int(row[c] or 0) for c in COUNTERS}}
    return servers


def delta(before: dict[str, dict], after: dict[str, dict]) -> dict[str, dict]:
    return {name: {c: after[name][c] - before.get(name, {}).get(c, 0) for c in COUNTERS} for name in after}
