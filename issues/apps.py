from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _count_the_open_stock_once(sender, using: str = "default", **kwargs) -> None:
    """After `migrate`: the counters of a database that has cases but was never counted (the
    table arrived with migration 0010) are counted now, by the same code as the hourly rebuild.
    A migration may not import live code, which changes after it; this runs the code of today."""
    from django.db import connections

    from issues import stock
    from issues.models import Issue, OpenStockMark

    tables = connections[using].introspection.table_names()
    if OpenStockMark._meta.db_table not in tables:
        return
    if not OpenStockMark.objects.using(using).exists() and Issue.objects.using(using).exists():
        stock.rebuild()


class IssuesConfig(AppConfig):
    name = "issues"
    verbose_name = _("Issues")

    def ready(self) -> None:
        from issues import stock
        from issues.services.core import CHANGE_HOOKS

        # The services keep the home pages' counters in step, in their own transaction.
        if stock.issue_changed not in CHANGE_HOOKS:
            CHANGE_HOOKS.append(stock.issue_changed)
        post_migrate.connect(_count_the_open_stock_once, sender=self, dispatch_uid="open-stock")
