"""Import this first in a helper that touches the database: the project on sys.path, Django set up.

The helpers run in the root namespace with the same settings as the hosts (DATABASE_URL, REDIS_URL and
HARNMODEL_VAR_DIR from bench/multihost/run), only their addresses are the loopback ones.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "harnmodel.settings")

import django  # noqa: E402

django.setup()
