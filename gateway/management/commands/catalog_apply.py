import json
import os
import sys
from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gateway.console.catalog_apply import CatalogError, catalog_apply, expand_env


class Command(BaseCommand):
    help = "Apply a catalog YAML file (models, prices, channels) to the database. Idempotent. FILE '-' reads stdin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--dry-run", action="store_true", help="Validate and report, write nothing.")

    def handle(self, *args, file: str, dry_run: bool, **options) -> None:
        data = expand_catalog(read_yaml(file))
        try:
            if not isinstance(data, dict):
                raise CatalogError("the catalog file must hold a mapping at the top level")
            summary = catalog_apply(data=data, dry_run=dry_run)
        except CatalogError as exc:
            raise CommandError(f"{file}: {exc}") from None
        self.stdout.write(json.dumps({"dry_run": dry_run, **summary} if dry_run else summary, indent=2))


def read_yaml(file: str) -> object:
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # str(exc) quotes the offending source line, which may hold a literal secret: report position only.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise CommandError(f"{file}: not valid YAML{where}: {getattr(exc, 'problem', None) or 'parse error'}") from None


def expand_catalog(data: object) -> object:
    try:
        return expand_env(data, os.environ)
    except CatalogError as exc:
        raise CommandError(str(exc)) from None
