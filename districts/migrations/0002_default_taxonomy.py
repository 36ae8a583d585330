"""Install the default taxonomy of docs/domain.md §6 and the default zone (idempotent, keyed by code).

The data is the frozen copy beside this file (`_taxonomy_0002.py`), not the live
`districts/taxonomy.py`, so a later edit of the taxonomy cannot change what this migration installs.
"""

from django.conf import settings
from django.db import migrations

from districts.migrations._taxonomy_0002 import install_default_taxonomy


def install(apps, schema_editor):
    install_default_taxonomy(
        zone_model=apps.get_model("districts", "Zone"),
        point_type_model=apps.get_model("districts", "PointType"),
        check_item_model=apps.get_model("districts", "CheckItem"),
        category_model=apps.get_model("districts", "Category"),
        zone_code=settings.DEFAULT_ZONE_CODE,
        # A re-run after admins edited the rows must not undo their work.
        overwrite=False,
    )


class Migration(migrations.Migration):
    dependencies = [("districts", "0001_initial")]

    # Reversing keeps the rows: issues may already point at them.
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
