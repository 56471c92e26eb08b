"""The default beat schedule for digests, editable afterwards in the admin."""

import json

from django.conf import settings
from django.db import migrations

DAILY = "Send daily digests"
WEEKLY = "Send weekly digests"
STALE = "Mark digests stuck in sending as unknown"


def add_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hour = str(settings.DIGESTS["HOUR_UTC"])
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour=hour, day_of_week="*", day_of_month="*", month_of_year="*",
        timezone="UTC",
    )
    weekly, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour=hour, day_of_week=settings.DIGESTS["WEEKDAY"], day_of_month="*",
        month_of_year="*", timezone="UTC",
    )
    every_ten_minutes, _ = IntervalSchedule.objects.get_or_create(every=10, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=DAILY,
        defaults={"task": "subscriptions.tasks.send_digests", "crontab": daily,
                  "kwargs": json.dumps({"frequency": "daily"})},
    )
    PeriodicTask.objects.get_or_create(
        name=WEEKLY,
        defaults={"task": "subscriptions.tasks.send_digests", "crontab": weekly,
                  "kwargs": json.dumps({"frequency": "weekly"})},
    )
    PeriodicTask.objects.get_or_create(
        name=STALE,
        defaults={"task": "subscriptions.tasks.mark_stale_digests_unknown",
                  "interval": every_ten_minutes},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[DAILY, WEEKLY, STALE]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("subscriptions", "0003_digests"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]
