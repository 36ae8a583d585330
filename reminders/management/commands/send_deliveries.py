"""Send due deliveries once: new reminders, retries whose backoff ended, expired leases."""

from django.core.management.base import BaseCommand

from reminders import services


class Command(BaseCommand):
    help = "Send every delivery that is due now, one message per target at a time."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--time-budget",
            type=float,
            default=None,
            help="Stop claiming new messages after this many seconds.",
        )

    def handle(self, *args, time_budget: float | None = None, **options) -> None:
        report = services.deliveries_send(time_budget_seconds=time_budget)
        self.stdout.write(f"deliveries: {report.as_dict()}")
