"""A web worker's memory budget (issue 20: RSS ≤ 120 MB per worker): libraries only a rare page needs are
imported by that page, not by the URLconf every worker loads on its first portal or console request.

Measured when this was written (one worker after django.setup() and the URLconf): 132 → 111 MB, of which
fpdf2 with fontTools and Pillow ~20 MB (the statement PDF), the Stripe SDK and segno (the QR page) the rest.
Run in a fresh interpreter: this test process has long since imported everything. The pages themselves are
tested where they are (tests/billing/test_invoices_statements.py draws a PDF, test_wechat_pay.py a QR code).
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("fpdf", "fontTools", "PIL", "stripe", "segno")

PROBE = f"""
import sys
import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns  # every view module of the portal, the console and the management API
import harnmodel.asgi  # the /v1 front and the websocket routes
print(",".join(name for name in {HEAVY!r} if name in sys.modules))
"""


def test_urlconf_leaves_the_heavy_libraries_to_their_pages():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "harnmodel.settings", "HARNMODEL_TRUTH_PRELOAD": "0"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1:] in ([], [""]), f"imported at load: {done.stdout.strip()}"

