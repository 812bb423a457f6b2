"""How a check ends: its result as JSON (summary.py gathers them) and a non-zero exit when an assertion failed."""

import json
import sys


def conclude(result: dict, checks: dict[str, bool], out: str) -> None:
    """`checks`: assertion name → held. All are evaluated and written before failing, so a failed run
    still says which guarantees held and which did not."""
    failed = [name for name, held in checks.items() if not held]
    result["checks"] = checks
    result["ok"] = not failed
    with open(out, "w") as handle:
        json.dump(result, handle, indent=1, default=str)
    if failed:
        print(f"{result.get('check', '?')}: FAILED {', '.join(failed)}", file=sys.stderr)
        raise SystemExit(1)
