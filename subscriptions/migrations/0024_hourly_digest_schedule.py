"""Digests go out at each reader's local hour: one hourly beat entry replaces the daily and
weekly ones (editable afterwards in the admin).

Readers already subscribed keep the time they had: the UTC hour and weekday the old entries
were made with (DIGEST_HOUR_UTC, DIGEST_WEEKDAY), in UTC.
"""

from django.conf import settings
from django.db import migrations

DAILY = "Send daily digests"
WEEKLY = "Send weekly digests"
HOURLY = "Send the digests due this hour"


def _old_weekday():
    value = str(settings.DIGESTS["WEEKDAY"]).strip()
    # A plain crontab number (0 or 7: Sunday); a range or a name is not one day: Monday.
    if value.isdigit() and 0 <= int(value) <= 7:
        return int(value) or 7
    return 1


def hourly(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    Subscriber = apps.get_model("subscriptions", "Subscriber")
    Subscriber.objects.update(
        send_hour=settings.DIGESTS["HOUR_UTC"], time_zone="UTC", send_weekday=_old_weekday()
    )
    PeriodicTask.objects.filter(name__in=[DAILY, WEEKLY]).delete()
    every_hour, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="*", day_of_week="*", day_of_month="*", month_of_year="*",
        timezone="UTC",
    )
    PeriodicTask.objects.get_or_create(
        name=HOURLY,
        defaults={"task": "subscriptions.tasks.send_due_digests", "crontab": every_hour},
    )


def daily_and_weekly(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=HOURLY).delete()
    hour = str(settings.DIGESTS["HOUR_UTC"])
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour=hour, day_of_week="*", day_of_month="*", month_of_year="*",
        timezone="UTC",
    )
    weekly, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour=hour, day_of_week=settings.DIGESTS["WEEKDAY"], day_of_month="*",
        month_of_year="*", timezone="UTC",
    )
    PeriodicTask.objects.get_or_create(
        name=DAILY,
        defaults={"task": "subscriptions.tasks.send_digests", "crontab": daily,
                  "kwargs": '{"frequency": "daily"}'},
    )
    PeriodicTask.objects.get_or_create(
        name=WEEKLY,
        defaults={"task": "subscriptions.tasks.send_digests", "crontab": weekly,
                  "kwargs": '{"frequency": "weekly"}'},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("subscriptions", "0023_send_time"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(hourly, daily_and_weekly)]
