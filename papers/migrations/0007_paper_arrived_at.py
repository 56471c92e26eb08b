"""When a listing brought each paper: candidates are chosen by arrival, not by featured day.

Papers already stored arrived when they were created (the best we know).
"""

import django.utils.timezone
from django.db import migrations, models


def arrived_when_created(apps, schema_editor):
    Paper = apps.get_model("papers", "Paper")
    Paper.objects.update(arrived_at=models.F("created_at"))


class Migration(migrations.Migration):
    dependencies = [("papers", "0006_paper_search_trigrams")]

    operations = [
        migrations.AddField(
            model_name="paper",
            name="arrived_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now,
                editable=False,
                help_text="When a listing brought the paper to us: first stored, or featured "
                "on a later day than before. A paper is new to a reader if it arrived after "
                "their last digest was built.",
            ),
        ),
        migrations.RunPython(arrived_when_created, migrations.RunPython.noop),
    ]
