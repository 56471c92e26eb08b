"""Paper.terms: each paper's title and abstract analysed once, for ranking to read."""

from django.db import migrations, models

from papers.text import stored_terms

BATCH_SIZE = 500


def analyse_papers(apps, schema_editor):
    """Fill in the terms of the papers there are. Ranking would analyse a paper without
    them on every run (it never reads terms not of the paper's text), so this is speed only."""
    Paper = apps.get_model("papers", "Paper")
    batch = []
    for paper in Paper.objects.only("pk", "title", "abstract").iterator(chunk_size=BATCH_SIZE):
        paper.terms = stored_terms(paper.title, paper.abstract)
        batch.append(paper)
        if len(batch) == BATCH_SIZE:
            Paper.objects.bulk_update(batch, ["terms"])
            batch = []
    Paper.objects.bulk_update(batch, ["terms"])


class Migration(migrations.Migration):
    dependencies = [
        ("papers", "0003_ingest_schedule"),
    ]

    operations = [
        migrations.AddField(
            model_name="paper",
            name="terms",
            field=models.TextField(
                blank=True,
                editable=False,
                help_text="The title and abstract as ranking reads them (papers.text.stored_terms).",
            ),
        ),
        migrations.RunPython(analyse_papers, migrations.RunPython.noop, elidable=True),
    ]
