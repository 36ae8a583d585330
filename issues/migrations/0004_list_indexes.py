"""Indexes for the issue list's sorts, filters and text search, measured on 300 000 issues.

`issue_deadline_idx` serves the deadline sorts over every status, `issue_closed_idx` the closing
date filters and the leaders' recent closures.

On PostgreSQL only, two GIN indexes serve the text search (`IssueQuerySet.search`):
`issue_search_trgm_idx` (pg_trgm) the conditions Django writes for `__startswith` and
`__icontains`, for text of three characters or more; its expressions repeat Django's SQL, which
is what lets the planner use it. pg_trgm finds nothing in shorter text, and most Chinese words
people search for (垃圾, 井盖, 路灯) are two characters long: `issue_search_pairs_idx` indexes the
adjacent character pairs of the description and address for those. SQLite has neither and keeps
searching by scanning.
"""

from django.conf import settings
from django.db import migrations, models

CREATE_SEARCH_INDEXES = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS issue_search_trgm_idx ON issues_issue USING gin (
    (case_number::text) gin_trgm_ops,
    (UPPER(description::text)) gin_trgm_ops,
    (UPPER(address::text)) gin_trgm_ops
);
CREATE OR REPLACE FUNCTION issue_character_pairs(value text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(substr(value, position, 2)), '{}')
    FROM generate_series(1, length(value) - 1) AS position
$$;
CREATE INDEX IF NOT EXISTS issue_search_pairs_idx ON issues_issue USING gin (
    issue_character_pairs(UPPER((description || ' ' || address)))
);
"""

DROP_SEARCH_INDEXES = """
DROP INDEX IF EXISTS issue_search_pairs_idx;
DROP FUNCTION IF EXISTS issue_character_pairs(text);
DROP INDEX IF EXISTS issue_search_trgm_idx;
"""


def create_search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_SEARCH_INDEXES, params=None)


def drop_search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SEARCH_INDEXES, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("districts", "0003_membership_language"),
        ("issues", "0003_seed_work_calendar"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="issue",
            index=models.Index(fields=["deadline", "id"], name="issue_deadline_idx"),
        ),
        migrations.AddIndex(
            model_name="issue",
            index=models.Index(fields=["closed_at"], name="issue_closed_idx"),
        ),
        migrations.RunPython(create_search_indexes, drop_search_indexes),
    ]
