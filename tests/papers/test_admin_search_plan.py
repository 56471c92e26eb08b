"""The admin's paper search is served by the trigram indexes on PostgreSQL (no table scan)."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.db import connection
from django.test import RequestFactory

from papers.models import Paper
from tests.factories import make_paper
from tests.reliability.services import require_postgresql

pytestmark = pytest.mark.django_db


@pytest.mark.redis  # needs PostgreSQL: the SQLite pass of CI deselects it with the Redis tests
def test_the_admin_search_of_papers_can_use_an_index(admin_user):
    require_postgresql()
    for n in range(300):
        make_paper(arxiv_id=f"2511.{n:05d}", title=f"Paper {n} on model merging")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE papers_paper")
    request = RequestFactory().get("/admin/papers/paper/", {"q": "zqxv"})
    request.user = admin_user
    model_admin = site._registry[Paper]
    found, _ = model_admin.get_search_results(request, Paper.objects.all(), "zqxv")
    sql, params = found.query.sql_with_params()
    with connection.cursor() as cursor:
        # A table this small is cheaper to scan; what is asked is whether an index can
        # serve the search at all (at 2,000 papers PostgreSQL takes the BitmapOr by itself).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")  # nor walk the date order
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    for index in ("paper_title_trgm", "paper_abstract_trgm", "paper_authors_trgm"):
        assert index in plan, plan
    assert "Seq Scan on papers_paper" not in plan, plan
