"""The default beat schedule for ingests, editable afterwards in the admin (django-celery-beat)."""

import json

from django.db import migrations


def add_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    # Hugging Face fills the day's list through the morning (UTC); arXiv announces at 00:00 UTC.
    hf_times, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="6,12,18", day_of_week="*", day_of_month="*", month_of_year="*",
        timezone="UTC",
    )
    arxiv_time, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="1", day_of_week="1-5", day_of_month="*", month_of_year="*",
        timezone="UTC",
    )
    PeriodicTask.objects.get_or_create(
        name="Ingest Hugging Face Daily Papers",
        defaults={"task": "papers.tasks.ingest_source", "crontab": hf_times,
                  "kwargs": json.dumps({"source": "hf"})},
    )
    PeriodicTask.objects.get_or_create(
        name="Ingest arXiv new listings",
        defaults={"task": "papers.tasks.ingest_source", "crontab": arxiv_time,
                  "kwargs": json.dumps({"source": "arxiv",
                                        "categories": ["cs.LG", "cs.CV", "cs.CL", "cs.AI", "cs.IR"]})},
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(
        name__in=["Ingest Hugging Face Daily Papers", "Ingest arXiv new listings"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("papers", "0002_default_topics"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]
