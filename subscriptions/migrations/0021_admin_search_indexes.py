"""Indexes the admin's lists and searches can use, and one index fewer on the digests.

- Digest.subscriber loses its own index: ``digest_unique_period`` (subscriber, period)
  starts with the same column and serves every look-up by subscriber.
- ``digest_failed``: the ids of failed digests, for the admin's "failed" filter (a few in a
  thousand: a scan for them reads most of the table).
- On PostgreSQL only (SQLite has neither operator classes nor BRIN; its tables are small):
  ``subscriber_email_prefix`` on lower(email) with text_pattern_ops, for "address starts
  with"; ``digest_day_brin``, a BRIN index on the digests' day (a day's digests are written
  together, so they are neighbours in the table): it finds a day range for the admin's
  filter and for retention in a few kilobytes, where a B-tree would take ~30 bytes a row
  (1 GB a year at 100,000 readers).
"""

import django.db.models.deletion
from django.db import migrations, models

INDEXES = [
    (
        "subscriber_email_prefix",
        "CREATE INDEX IF NOT EXISTS subscriber_email_prefix "
        "ON subscriptions_subscriber (lower(email) text_pattern_ops)",
    ),
    (
        "digest_day_brin",
        "CREATE INDEX IF NOT EXISTS digest_day_brin ON subscriptions_digest USING brin (day)",
    ),
]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for _, sql in INDEXES:
            schema_editor.execute(sql)


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, _ in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):

    dependencies = [
        ('subscriptions', '0020_retention_schedule'),
    ]

    operations = [
        migrations.AlterField(
            model_name='digest',
            name='subscriber',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='digests', to='subscriptions.subscriber'),
        ),
        migrations.AddIndex(
            model_name='digest',
            index=models.Index(condition=models.Q(('status', 'failed')), fields=['id'], name='digest_failed'),
        ),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
