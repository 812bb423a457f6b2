import json

from django.core.management.base import BaseCommand

from billing import retention


class Command(BaseCommand):
    help = (
        "Create the coming months' usage partitions and purge raw rows past their retention "
        "(HARNMODEL_RETAIN_USAGE_DAYS, HARNMODEL_RETAIN_HOLDS_DAYS); --dry-run only counts what would go."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count what would be purged; change nothing")

    def handle(self, *args, **options) -> None:
        if options["dry_run"]:
            shown = retention.purge(dry_run=True).as_dict()
        else:
            shown = retention.maintain()
        self.stdout.write(json.dumps(shown, indent=2))
