"""Requirement files for the LiteLLM peer, read from the litellm wheel's own metadata.

    python bench/litellm_reqs.py WHEEL OUT_DIR

`litellm[proxy]==1.110.2` does not resolve on the package index (its `proxy` extra pins
`litellm-proxy`, which is absent, and `.post1` companions the index lacks), so the shared install
notes (`../shared/bench/litellm/INSTALL.md`) install the wheel plus the `proxy` extra's other
requirements with the nearest companions, plus the `proxy-runtime` extra. This writes those two
lists: OUT_DIR/proxy-reqs2.txt and OUT_DIR/runtime-reqs.txt.
"""

import sys
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

DROP = {"litellm-proxy"}  # not on the index; the wheel carries the proxy itself
COMPANIONS = {"litellm-proxy-extras": "==0.4.110", "litellm-enterprise": "==0.1.83"}  # what the index has


def extra_requirements(metadata: str, extra: str) -> list[str]:
    out: list[str] = []
    for line in metadata.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        req = Requirement(line.split(":", 1)[1].strip())
        if req.marker is None or not req.marker.evaluate({"extra": extra}):
            continue
        if req.marker.evaluate({"extra": ""}):
            continue  # a base requirement, not the extra's
        name = req.name.lower()
        if name in DROP:
            continue
        spec = COMPANIONS.get(name, str(req.specifier))
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        out.append(f"{req.name}{extras}{spec}")
    return out


def main() -> None:
    wheel, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode()
    for extra, filename in (("proxy", "proxy-reqs2.txt"), ("proxy-runtime", "runtime-reqs.txt")):
        lines = extra_requirements(metadata, extra)
        if not lines:
            raise SystemExit(f"{wheel.name}: no requirements for extra {extra!r}")
        (out_dir / filename).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
