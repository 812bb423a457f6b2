"""The operator CLI: management commands called the way a shell would, output captured."""

import json
from io import StringIO

from django.core.management import call_command


def run(name: str, *args: str, **options) -> str:
    """Run a command and return its stdout (stderr is captured so tests stay quiet)."""
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err, **options)
    return out.getvalue()


def run_json(name: str, *args: str, **options) -> dict:
    return json.loads(run(name, *args, **options))
