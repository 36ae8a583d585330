"""Run the reminder job once: the same work as the beat task, for cron and the embedded demo."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from reminders import services


class Command(BaseCommand):
    help = "Create the reminders due now (each once), then send due deliveries."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--no-send",
            action="store_true",
            help="Only create reminders; leave sending to a worker.",
        )
        parser.add_argument(
            "--digest", action="store_true", help="Also queue today's digest (normally daily)."
        )

    def handle(self, *args, no_send: bool = False, digest: bool = False, **options) -> None:
        report = services.reminders_run(now=timezone.now())
        self.stdout.write(f"reminders: {report.as_dict()}")
        if digest:
            self.stdout.write(f"digests: {services.digests_create(now=timezone.now())}")
        if not no_send:
            sent = services.deliveries_send()
            self.stdout.write(f"deliveries: {sent.as_dict()}")
