"""Settings for the secret-hygiene server: the project's, with the proposed LOGGING at its most talkative."""

from harnmodel.settings import *  # noqa: F403
from tests.hardening.support import logging_settings

LOGGING = logging_settings("json", "DEBUG")
