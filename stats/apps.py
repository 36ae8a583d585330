from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StatsConfig(AppConfig):
    name = "stats"
    verbose_name = _("Campaign figures")

    def ready(self) -> None:
        from issues.services.core import CHANGE_HOOKS
        from stats import rollup

        # The services keep the KPI rollup in step, in their own transaction.
        if rollup.issue_changed not in CHANGE_HOOKS:
            CHANGE_HOOKS.append(rollup.issue_changed)
