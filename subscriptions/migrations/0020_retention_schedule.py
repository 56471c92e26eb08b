"""The nightly retention task in the beat schedule (editable afterwards in the admin)."""

from django.db import migrations

RETENTION = "Retention: retire old papers, delete their digest items, compact old digests"


def add_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    # 03:30 UTC: hours away from the digest runs (07:00 UTC by default) and the ingests.
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="3", day_of_week="*", day_of_month="*", month_of_year="*",
        timezone="UTC",
    )
    PeriodicTask.objects.get_or_create(
        name=RETENTION,
        defaults={"task": "subscriptions.tasks.apply_retention", "crontab": nightly},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=RETENTION).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("subscriptions", "0019_retired_papers"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]
