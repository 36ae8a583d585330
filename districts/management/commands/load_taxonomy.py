"""Re-apply the default taxonomy (docs/domain.md §6) to the database."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from districts.models import Category, CheckItem, PointType, Zone
from districts.taxonomy import install_default_taxonomy


class Command(BaseCommand):
    help = (
        "Install the default point types, check items and categories. By default existing rows "
        "are reset to the defaults; --keep-edits only adds what is missing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--keep-edits",
            action="store_true",
            help="Only add missing rows; keep names and limits an admin has changed.",
        )

    def handle(self, *args, **options):
        with transaction.atomic():
            created = install_default_taxonomy(
                zone_model=Zone,
                point_type_model=PointType,
                check_item_model=CheckItem,
                category_model=Category,
                zone_code=settings.DEFAULT_ZONE_CODE,
                overwrite=not options["keep_edits"],
            )
        self.stdout.write(
            self.style.SUCCESS(
                "Taxonomy installed: {point_types} point types, {check_items} check items and "
                "{categories} categories created; the rest {verb}.".format(
                    **created, verb="kept" if options["keep_edits"] else "reset to the defaults"
                )
            )
        )
