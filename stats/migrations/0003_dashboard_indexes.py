"""Indexes the dashboards read on the issue tables (the stats app owns these reads).

- issues_issue(dispatched_at): the dispatched cohort of every KPI page ("filed this week");
- issues_issueevent(issue_id) for returns and reassignments only: the 准确派遣率's EXISTS per
  dispatched case reads a few rows per thousand events.
Partial indexes work on PostgreSQL and SQLite alike.
"""

from django.db import migrations

CREATE = [
    "CREATE INDEX IF NOT EXISTS stats_issue_dispatched_idx "
    "ON issues_issue (dispatched_at) WHERE dispatched_at IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS stats_event_redirect_idx "
    "ON issues_issueevent (issue_id) WHERE action IN ('return', 'reassign')",
]
DROP = [
    "DROP INDEX IF EXISTS stats_issue_dispatched_idx",
    "DROP INDEX IF EXISTS stats_event_redirect_idx",
]


class Migration(migrations.Migration):
    dependencies = [
        ("stats", "0002_ledgerexport"),
        ("issues", "0004_list_indexes"),
    ]

    operations = [migrations.RunSQL(sql=CREATE, reverse_sql=DROP)]
