"""Autovacuum of the digest items after each night's retention, not after weeks of it.

Retention deletes about one day of items a night, 3% of the table at the default 30 days.
PostgreSQL's default autovacuum waits for 20% of a table to be dead rows, so six nights of
deleted rows would sit in the table before their space could be reused, and the table would
grow by as much. At 1% a vacuum follows each night's deletes. PostgreSQL only.
"""

from django.db import migrations


def tune(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE subscriptions_digestitem SET (autovacuum_vacuum_scale_factor = 0.01)"
        )


def untune(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE subscriptions_digestitem RESET (autovacuum_vacuum_scale_factor)"
        )


class Migration(migrations.Migration):

    dependencies = [
        ("subscriptions", "0021_admin_search_indexes"),
    ]

    operations = [migrations.RunPython(tune, untune)]
