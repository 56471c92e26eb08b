"""Indexes the admin's searches can use, and one index fewer on the digests.

- Digest.subscriber loses its own index: ``digest_unique_period`` (subscriber, period)
  starts with the same column and serves every look-up by subscriber.
- On PostgreSQL only (SQLite has no operator classes or hash indexes; its tables are small):
  ``subscriber_email_prefix`` on lower(email) with text_pattern_ops, for "address starts
  with"; ``digest_esp_message_id`` a hash index for "this ESP message id" (a hash entry is a
  fixed 4-byte hash, smaller than a B-tree of 20-40 character ids).
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
        "digest_esp_message_id",
        "CREATE INDEX IF NOT EXISTS digest_esp_message_id "
        "ON subscriptions_digest USING hash (esp_message_id) WHERE esp_message_id <> ''",
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
        ('subscriptions', '0019_retention_schedule'),
    ]

    operations = [
        migrations.AlterField(
            model_name='digest',
            name='subscriber',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='digests', to='subscriptions.subscriber'),
        ),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
