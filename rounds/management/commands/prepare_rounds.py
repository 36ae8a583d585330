"""Prepare every round still "being prepared" (when the task queue was down): the same job."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from rounds import services
from rounds.models import Round


class Command(BaseCommand):
    help = "Draw and assign the points of every round still being prepared, and open it."

    def handle(self, *args, **options) -> None:
        for round_id in Round.objects.filter(status=Round.Status.PREPARING).values_list(
            "pk", flat=True
        ):
            round_ = services.round_prepare(round_id=round_id)
            status = round_.status if round_ else "missing"
            self.stdout.write(f"round {round_id}: {status}")
