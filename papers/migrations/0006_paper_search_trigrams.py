"""Trigram indexes for the admin's paper search, on PostgreSQL only.

The admin searches title, abstract, arXiv id and authors with Django's ``icontains``
(``UPPER(col::text) LIKE UPPER('%word%')``), which no B-tree can serve: four scans of the
papers table per page. A GIN trigram index on each ``UPPER(...)`` expression serves it
(a BitmapOr of the four). Cost measured on 2,000 real-sized papers: the abstract's index is
about the size of the table (3.3 MB; some 60 MB for a year's 36,000 papers), the others
are small. SQLite has no such index; its search stays a scan.
"""

from django.db import migrations

INDEXES = {
    "paper_title_trgm": "UPPER(title::text)",
    "paper_abstract_trgm": "UPPER(abstract::text)",
    "paper_arxiv_id_trgm": "UPPER(arxiv_id::text)",
    "paper_authors_trgm": "UPPER(authors::text)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON papers_paper "
            f"USING gin ({expression} gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("papers", "0005_source_choices_from_registry")]

    operations = [migrations.RunPython(create, drop)]
