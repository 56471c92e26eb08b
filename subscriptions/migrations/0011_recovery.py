"""Recovery without a manual rerun: batches tracked, doubt settled, one sweep every minute.

The old ten-minute "mark stale digests unknown" beat entry becomes the recovery sweep, which
does that and more (see ``subscriptions.delivery.recovery``).
"""

import django.db.models.deletion
from django.db import migrations, models

OLD = "Mark digests stuck in sending as unknown"
NEW = "Recover stalled digest sending"


def use_the_recovery_sweep(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.filter(name=OLD).delete()
    PeriodicTask.objects.get_or_create(
        name=NEW,
        defaults={"task": "subscriptions.tasks.recover_sending", "interval": every_minute},
    )


def use_the_old_sweep(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_ten_minutes, _ = IntervalSchedule.objects.get_or_create(every=10, period="minutes")
    PeriodicTask.objects.filter(name=NEW).delete()
    PeriodicTask.objects.get_or_create(
        name=OLD,
        defaults={"task": "subscriptions.tasks.mark_stale_digests_unknown",
                  "interval": every_ten_minutes},
    )


class Migration(migrations.Migration):

    dependencies = [
        ('subscriptions', '0010_subscriber_soft_bounces'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.AddField(
            model_name='digest',
            name='resent_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='digest',
            name='settled_by_event',
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.AddField(
            model_name='subscriber',
            name='confirmation_claimed_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.CreateModel(
            name='DigestBatch',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField(help_text='The day the run builds digests for.')),
                ('first_id', models.PositiveBigIntegerField()),
                ('last_id', models.PositiveBigIntegerField()),
                ('queued_at', models.DateTimeField(help_text='Queued by the run, or again by the sweep.')),
                ('progress_at', models.DateTimeField(blank=True, help_text='Last seen building or sending (empty: not started).', null=True)),
                ('resume_at', models.DateTimeField(blank=True, null=True)),
                ('done_at', models.DateTimeField(blank=True, null=True)),
                ('requeued', models.PositiveSmallIntegerField(default=0, help_text='Times the sweep requeued it.')),
                ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='batches', to='subscriptions.digestrun')),
            ],
            options={
                'indexes': [models.Index(fields=['done_at', 'queued_at'], name='digest_batch_open')],
                'constraints': [models.UniqueConstraint(fields=('run', 'first_id', 'last_id'), name='digest_batch_range')],
            },
        ),
        migrations.RunPython(use_the_recovery_sweep, use_the_old_sweep),
    ]
