"""The opening of every static nginx mock's config the benchmarks write (doors_mock.py, multihost/mock.py):
one worker, a private prefix for pid, logs and temp files, keep-alive for load runs, no access log."""

from pathlib import Path


def head(prefix: Path, *http_lines: str) -> str:
    """`daemon off` … up to the `http {` block's settings (each of `http_lines` added there); the caller
    appends its `server { … }` and the two closing braces."""
    extra = "".join(f"    {line}\n" for line in http_lines)
    return f"""daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
{extra}    tcp_nodelay on;
    etag off;
"""
