from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IssuesConfig(AppConfig):
    name = "issues"
    verbose_name = _("Issues")

    def ready(self) -> None:
        from issues import stock
        from issues.services.core import CHANGE_HOOKS

        # The services keep the home pages' counters in step, in their own transaction.
        if stock.issue_changed not in CHANGE_HOOKS:
            CHANGE_HOOKS.append(stock.issue_changed)
