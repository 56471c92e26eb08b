"""Benchmark: a history of daily digests on PostgreSQL, what it weighs, and the admin on it.

What it does
    1. Migrates ``--database-url`` (PostgreSQL only) and empties the subscription tables.
    2. Fills it: ``--papers-per-day`` papers a day for ``--days`` days up to ``--last-day``
       (``benchmarks/seed_papers.py``: the seed's real titles and abstracts, tagged; stored
       on the day they were featured), ``--readers`` daily readers (1-3 topics each), and for
       every reader and day a sent digest with ``--for-you`` + ``--trending`` items, as the
       daily run writes them (reasons, scores, ESP message id, claim token; 0.5% failed
       with an error). Every row goes in by ``COPY``; the digests' and items' keys, foreign
       keys and indexes are built afterwards (``--incremental``: kept in place, as a
       production table grows them, 4x slower and its B-trees less packed). Then VACUUM
       ANALYZE.
    3. Reports each table's rows, heap and index sizes (every index on its own) and bytes
       per row, and extrapolates a year at ``--year-readers`` daily readers with the
       default retention: digests are kept ``DIGESTS_KEEP_DAYS`` (400, so all 365 days of
       a year), digest items while their papers are not retired (``DIGEST_ITEMS_KEEP_DAYS``
       + 2 days of them: one of dead rows until VACUUM).
    4. Times the admin pages (``--requests`` GETs each, logged in as a superuser, Django's
       test client in this process): the papers list, a paper's page (the paper in the
       most digests), the subscribers list, a subscriber's page, the digests list, a
       digest's page, the summary by day, the feedback list, and the searches. Prints the
       p50, p95, max and queries per request.
    5. Times one night of retention (``apply_retention`` as of the day the first day's
       papers retire: about one day of digest items deleted), then the tables' sizes again.

How to run (from the repository root; the database is created if missing)
    .venv/bin/python benchmarks/history.py --readers 100000 --days 30
    .venv/bin/python benchmarks/history.py --readers 2000 --days 5 --requests 5   # a minute

    ``--keep`` leaves the filled tables; by default they are truncated at the end (a
    100k x 30 fill is about 10 GB).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/paper_digest_history"
LAST_DAY = date(2025, 11, 6)
COPY_CHUNK = 20_000  # rows formatted before each write to the COPY stream
YEAR = 365

SUBSCRIPTION_TABLES = [
    "subscriptions_digestitem",
    "subscriptions_digest",
    "subscriptions_digestcount",
    "subscriptions_feedback",
    "subscriptions_retiredpaper",
    "subscriptions_subscriber_topics",
    "subscriptions_subscriber",
    "subscriptions_digestbatch",
    "subscriptions_digestrun",
]
MEASURED_TABLES = [
    "subscriptions_digestitem",
    "subscriptions_digest",
    "subscriptions_subscriber",
    "subscriptions_subscriber_topics",
    "subscriptions_feedback",
    "papers_paper",
    "papers_papertopic",
]


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--papers-per-day", type=int, default=100)
    parser.add_argument("--for-you", type=int, default=10, help="items per digest, for you")
    parser.add_argument("--trending", type=int, default=3, help="items per digest, trending")
    parser.add_argument("--feedback-share", type=float, default=0.3, help="feedback per reader")
    parser.add_argument("--last-day", type=date.fromisoformat, default=LAST_DAY)
    parser.add_argument("--year-readers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20, help="GETs per admin page")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--keep", action="store_true", help="keep the filled tables")
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="COPY with the indexes in place, as production grows them (slow at scale)",
    )
    parser.add_argument("--no-fill", action="store_true", help="measure what is there")
    parser.add_argument(
        "--explain", action="store_true", help="print the plans of the pages' slow queries"
    )
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)
    if not arguments.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be PostgreSQL")
    if arguments.readers < 1 or arguments.days < 2 or arguments.papers_per_day < 20:
        parser.error("--readers >= 1, --days >= 2 and --papers-per-day >= 20")
    return arguments


# --- Filling ------------------------------------------------------------------------------


def copy_rows(table: str, columns: Sequence[str], rows: Iterator[Sequence[object] | str]) -> int:
    """COPY the rows (text format) into the table; return how many."""
    from django.db import connection

    count = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor
        with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for row in rows:
                # A line already in COPY's text format (the big tables: formatting each
                # value apart is most of the fill's time), or a row of values.
                if isinstance(row, str):
                    buffer.write(row)
                else:
                    buffer.write("\t".join(_copy_text(value) for value in row))
                buffer.write("\n")
                count += 1
                if count % COPY_CHUNK == 0:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
    return count


def _copy_text(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return text


@contextmanager
def indexes_built_after(table: str) -> Iterator[None]:
    """Drop the table's keys, foreign keys and indexes, and build them again afterwards:
    a COPY into a table with them grows each B-tree row by row and checks each foreign key
    row by row (30 times slower). Built at once, a B-tree is packed tighter than one grown
    by random inserts: ``--incremental`` measures the difference."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f') "
            "ORDER BY CASE contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 ELSE 2 END",
            [table],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
            [table],
        )
        indexes = cursor.fetchall()
        for name, _, _ in reversed(constraints):
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for name, definition, _ in constraints:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for _, definition in indexes:
            cursor.execute(definition)


def reset_sequence(table: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"COALESCE((SELECT max(id) FROM {table}), 1))"
        )


def at(day: date, hour: int, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) + timedelta(seconds=second)


def fill(arguments: argparse.Namespace) -> dict[str, float]:
    """Fill papers, readers, digests and items (see the module docstring); return timings."""
    from django.db import connection

    import benchmarks.seed_papers as seed_papers
    from papers.models import Paper, Topic
    from subscriptions.delivery.counts import recount

    timings: dict[str, float] = {}
    rng = random.Random(arguments.seed)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(SUBSCRIPTION_TABLES)} RESTART IDENTITY CASCADE")
    started = time.perf_counter()
    papers_wanted = arguments.papers_per_day * arguments.days
    if Paper.objects.count() != papers_wanted:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE papers_paper RESTART IDENTITY CASCADE")
        seed_papers.fill(
            papers=papers_wanted,
            per_day=arguments.papers_per_day,
            last_day=arguments.last_day,
            tag=True,
        )
    # Stored on the day it was featured, as the daily ingest does.
    Paper.objects.update(created_at=_featured_at())
    timings["papers"] = time.perf_counter() - started

    days = [arguments.last_day - timedelta(days=n) for n in range(arguments.days - 1, -1, -1)]
    by_day: dict[date, list[tuple[int, int]]] = {day: [] for day in days}
    for pk, featured_on, upvotes in Paper.objects.values_list("pk", "featured_on", "upvotes"):
        if featured_on in by_day:
            by_day[featured_on].append((pk, upvotes))
    for day in days:
        by_day[day].sort(key=lambda p: -p[1])

    started = time.perf_counter()
    readers = arguments.readers
    first_day = days[0]
    copy_rows(
        "subscriptions_subscriber",
        [
            "id", "email", "mailbox", "status", "frequency", "keywords", "authors",
            "excluded_keywords", "manage_key", "created_at", "confirmed_at", "soft_bounces",
        ],
        (
            (
                pk, f"reader{pk}@example.org", f"reader{pk}@example.org", "active", "daily",
                '["diffusion"]' if pk % 3 == 0 else "[]", "[]", "[]", uuid.uuid4().hex[:22],
                at(first_day, 6, -pk), at(first_day, 6, -pk), 0,
            )
            for pk in range(1, readers + 1)
        ),
    )  # fmt: skip
    topics = list(Topic.objects.values_list("pk", flat=True))
    copy_rows(
        "subscriptions_subscriber_topics",
        ["subscriber_id", "topic_id"],
        (
            (pk, topic)
            for pk in range(1, readers + 1)
            for topic in rng.sample(topics, k=min(len(topics), 1 + pk % 3))
        ),
    )
    reset_sequence("subscriptions_subscriber")
    timings["readers"] = time.perf_counter() - started

    started = time.perf_counter()
    building = nullcontext if arguments.incremental else indexes_built_after
    with building("subscriptions_digestitem"), building("subscriptions_digest"):
        _fill_digests(days, readers, by_day, arguments, rng, timings)
    timings["indexes"] = time.perf_counter() - started - timings["digests"] - timings["items"]
    print(f"fill: indexes and keys in {timings['indexes']:.0f} s", flush=True)

    # The per-period counts the runs keep as they go (delivery/counts.py), for the summary.
    started = time.perf_counter()
    recount(day.isoformat() for day in days)
    timings["counts"] = time.perf_counter() - started

    latest = by_day[days[-1]]
    copy_rows(
        "subscriptions_feedback",
        ["subscriber_id", "paper_id", "signal", "created_at"],
        (
            (pk, latest[pk % len(latest)][0], 1 if pk % 4 else -1, at(days[-1], 9, pk % 3600))
            for pk in rng.sample(range(1, readers + 1), k=int(readers * arguments.feedback_share))
        ),
    )
    started = time.perf_counter()
    connection.ensure_connection()
    old_autocommit = connection.get_autocommit()
    connection.set_autocommit(True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    connection.set_autocommit(old_autocommit)
    timings["vacuum analyze"] = time.perf_counter() - started
    return timings


def _fill_digests(
    days: Sequence[date],
    readers: int,
    by_day: dict[date, list[tuple[int, int]]],
    arguments: argparse.Namespace,
    rng: random.Random,
    timings: dict[str, float],
) -> tuple[int, int]:
    started = time.perf_counter()
    digests = copy_rows(
        "subscriptions_digest",
        [
            "id", "subscriber_id", "period", "day", "frequency", "status", "attempts",
            "created_at", "claimed_at", "claim_token", "sent_at", "esp_message_id", "error",
            "settled_by_event",
        ],
        _digest_rows(days, readers, rng),
    )  # fmt: skip
    reset_sequence("subscriptions_digest")
    timings["digests"] = time.perf_counter() - started
    print(f"fill: {digests:,} digests in {timings['digests']:.0f} s", flush=True)

    started = time.perf_counter()
    items = copy_rows(
        "subscriptions_digestitem",
        ["digest_id", "subscriber_id", "paper_id", "section", "position", "score", "reasons"],
        _item_rows(days, readers, by_day, arguments, rng),
    )
    timings["items"] = time.perf_counter() - started
    print(f"fill: {items:,} digest items in {timings['items']:.0f} s", flush=True)
    return digests, items


def _featured_at() -> Any:
    from django.db.models import DateTimeField, ExpressionWrapper, F

    return ExpressionWrapper(F("featured_on") + timedelta(hours=6), output_field=DateTimeField())


def _digest_id(day_index: int, readers: int, subscriber_id: int) -> int:
    return day_index * readers + subscriber_id


def _digest_rows(days: Sequence[date], readers: int, rng: random.Random) -> Iterator[str]:
    error = "ESP refused the message: 422 Inactive recipient"
    for day_index, day in enumerate(days):
        period = day.isoformat()
        for pk in range(1, readers + 1):
            created = f"{period} 07:{pk // 60000:02d}:{pk // 1000 % 60:02d}+00"
            claimed = f"{period} 07:{pk // 24000:02d}:{pk // 400 % 60:02d}+00"
            token = uuid.UUID(int=rng.getrandbits(128))
            digest_id = _digest_id(day_index, readers, pk)
            if rng.random() < 0.005:
                yield (
                    f"{digest_id}\t{pk}\t{period}\t{period}\tdaily\tfailed\t1\t{created}\t"
                    f"{claimed}\t{token}\t\\N\t\t{error}\tf"
                )
            else:
                message_id = uuid.UUID(int=rng.getrandbits(128))
                yield (
                    f"{digest_id}\t{pk}\t{period}\t{period}\tdaily\tsent\t1\t{created}\t"
                    f"{claimed}\t{token}\t{claimed}\t{message_id}\t\tf"
                )


def _item_rows(
    days: Sequence[date],
    readers: int,
    by_day: dict[date, list[tuple[int, int]]],
    arguments: argparse.Namespace,
    rng: random.Random,
) -> Iterator[str]:
    """Each reader's picks come from the day's papers only, so no pair repeats across days
    (the unique (subscriber, paper) constraint), with popular papers picked far more."""
    for_you_reasons = '["topic: Diffusion models", "keyword: diffusion"]'
    trending_reasons = '["37 upvotes, trending, +12 today"]'
    for day_index, day in enumerate(days):
        papers = [paper_id for paper_id, _ in by_day[day]]
        cumulative = list(accumulate(1.0 / (rank + 5) for rank in range(len(papers))))
        trending_pool = papers[: arguments.trending + arguments.for_you]
        for pk in range(1, readers + 1):
            digest_id = _digest_id(day_index, readers, pk)
            picked: dict[int, None] = {}
            for paper_id in rng.choices(papers, cum_weights=cumulative, k=arguments.for_you * 2):
                if len(picked) < arguments.for_you:
                    picked[paper_id] = None
            for position, paper_id in enumerate(sorted(picked), start=1):
                score = 1.0 / position + rng.random() * 0.1
                yield (
                    f"{digest_id}\t{pk}\t{paper_id}\tfor_you\t{position}\t{score:.6f}\t"
                    f"{for_you_reasons}"
                )
            trending = [p for p in trending_pool if p not in picked][: arguments.trending]
            for position, paper_id in enumerate(trending, start=1):
                yield (
                    f"{digest_id}\t{pk}\t{paper_id}\ttrending\t{position}\t0.0\t{trending_reasons}"
                )


# --- Measuring ----------------------------------------------------------------------------


def table_sizes() -> list[dict[str, Any]]:
    """Per measured table: rows (estimated after ANALYZE), heap+toast and index bytes, and
    every index's bytes."""
    from django.db import connection

    sizes = []
    with connection.cursor() as cursor:
        for table in MEASURED_TABLES:
            cursor.execute(
                "SELECT c.reltuples::bigint, pg_table_size(c.oid), pg_indexes_size(c.oid) "
                "FROM pg_class c WHERE c.relname = %s",
                [table],
            )
            rows, heap, indexes = cursor.fetchone()
            cursor.execute(
                "SELECT i.relname, pg_relation_size(i.oid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                "WHERE t.relname = %s ORDER BY 2 DESC",
                [table],
            )
            sizes.append(
                {
                    "table": table,
                    "rows": max(rows, 0),
                    "heap": heap,
                    "indexes": indexes,
                    "each": cursor.fetchall(),
                }
            )
    return sizes


def print_sizes(sizes: list[dict[str, Any]], title: str) -> None:
    print(f"\n{title}")
    print(f"{'table':34} {'rows':>12} {'heap MB':>9} {'index MB':>9} {'B/row':>7}")
    for entry in sizes:
        per_row = (entry["heap"] + entry["indexes"]) / entry["rows"] if entry["rows"] else 0
        print(
            f"{entry['table']:34} {entry['rows']:>12,} {entry['heap'] / 2**20:>9.1f} "
            f"{entry['indexes'] / 2**20:>9.1f} {per_row:>7.0f}"
        )
        for name, size in entry["each"]:
            print(f"{'':4}{name:50} {size / 2**20:>9.1f} MB")
    total = sum(e["heap"] + e["indexes"] for e in sizes)
    print(f"{'total':34} {'':>12} {total / 2**30:>19.2f} GB")


def year_estimate(sizes: list[dict[str, Any]], arguments: argparse.Namespace) -> None:
    """A year at ``--year-readers``: measured bytes per row times the rows retention keeps."""
    from django.conf import settings

    by_table = {e["table"]: e for e in sizes}

    def per_row(table: str) -> float:
        entry = by_table[table]
        return (entry["heap"] + entry["indexes"]) / entry["rows"] if entry["rows"] else 0.0

    scale = arguments.year_readers / arguments.readers
    items_per_digest = by_table["subscriptions_digestitem"]["rows"] / max(
        by_table["subscriptions_digest"]["rows"], 1
    )
    digest_days = min(YEAR, settings.DIGESTS_KEEP_DAYS)
    # A day's papers retire DIGEST_ITEMS_KEEP_DAYS + 1 days after they were featured, and
    # the space of their deleted items is reused once vacuumed (migration 0021: after each
    # night): the table holds that many days, plus one day of dead rows awaiting VACUUM.
    item_days = settings.DIGEST_ITEMS_KEEP_DAYS + 2
    readers = arguments.year_readers
    parts = {
        "digests": per_row("subscriptions_digest") * readers * digest_days,
        "digest items": per_row("subscriptions_digestitem")
        * readers
        * items_per_digest
        * item_days,
        "subscribers (+ topics)": (
            by_table["subscriptions_subscriber"]["heap"]
            + by_table["subscriptions_subscriber"]["indexes"]
            + by_table["subscriptions_subscriber_topics"]["heap"]
            + by_table["subscriptions_subscriber_topics"]["indexes"]
        )
        * scale,
        "feedback (a year: 12x the fill's)": 12
        * (
            by_table["subscriptions_feedback"]["heap"]
            + by_table["subscriptions_feedback"]["indexes"]
        )
        * scale,
        "papers (+ tags), a year": (
            by_table["papers_paper"]["heap"]
            + by_table["papers_paper"]["indexes"]
            + by_table["papers_papertopic"]["heap"]
            + by_table["papers_papertopic"]["indexes"]
        )
        * YEAR
        / arguments.days,
    }
    print(
        f"\na year at {readers:,} daily readers, DIGESTS_KEEP_DAYS={settings.DIGESTS_KEEP_DAYS}"
        f" ({digest_days} days of digests), DIGEST_ITEMS_KEEP_DAYS="
        f"{settings.DIGEST_ITEMS_KEEP_DAYS} ({item_days} days of items, "
        f"{items_per_digest:.1f} a digest):"
    )
    for name, size in parts.items():
        print(f"    {name:36} {size / 2**30:>7.2f} GB")
    total = sum(parts.values())
    without = parts["digest items"] / item_days * YEAR
    print(f"    {'total':36} {total / 2**30:>7.2f} GB  (target < 20 GB)")
    print(f"    without retention the items alone would be {without / 2**30:.1f} GB")


def admin_pages() -> list[tuple[str, str]]:
    from django.db.models import Count
    from django.urls import reverse

    from subscriptions.models import Digest, DigestItem, Subscriber

    busiest = (
        DigestItem.objects.filter(digest__day=Digest.objects.order_by("-day").values("day")[:1])
        .values("paper_id")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("paper_id", flat=True)[:1]
    )
    paper = next(iter(busiest))
    reader = Subscriber.objects.order_by("pk").values_list("pk", "email")[0]
    digest = Digest.objects.filter(subscriber_id=reader[0]).order_by("-day").first()
    assert digest is not None
    digests = reverse("admin:subscriptions_digest_changelist")
    subscribers = reverse("admin:subscriptions_subscriber_changelist")
    return [
        ("papers", reverse("admin:papers_paper_changelist")),
        ("paper page (most sent)", reverse("admin:papers_paper_change", args=[paper])),
        ("subscribers", subscribers),
        ("subscriber page", reverse("admin:subscriptions_subscriber_change", args=[reader[0]])),
        ("digests", digests),
        ("digest page", reverse("admin:subscriptions_digest_change", args=[digest.pk])),
        ("summary by day", reverse("admin:subscriptions_digest_summary")),
        ("feedback", reverse("admin:subscriptions_feedback_changelist")),
        ("digests ?status=failed", digests + "?status__exact=failed"),
        ("digests of a paper", digests + f"?paper={paper}"),
        ("digests search: address", digests + f"?q={reader[1]}"),
        ("digests search: digest id", digests + f"?q={digest.pk}"),
        ("subscribers search: prefix", subscribers + "?q=reader1234"),
        ("papers search: a word (scan)", reverse("admin:papers_paper_changelist") + "?q=diffusion"),
    ]


def time_admin(requests: int) -> list[tuple[str, float, float, float, int, int]]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user_model = get_user_model()
    admin, _ = user_model.objects.get_or_create(
        username="history-benchmark", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(admin)
    results = []
    for name, url in admin_pages():
        client.get(url)  # warm: templates compiled, content types cached
        times = []
        queries = 0
        size = 0
        for _ in range(requests):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            queries = len(captured)
            size = len(response.content)
        times.sort()
        p95 = times[max(0, -(-len(times) * 95 // 100) - 1)]  # nearest rank
        results.append((name, statistics.median(times), p95, times[-1], queries, size))
        print(f"admin: {name:30} p95 {p95:7.1f} ms", flush=True)
    return results


def explain_admin(slower_than_ms: float = 2.0) -> None:
    """Each admin page's queries slower than ``slower_than_ms``, with their plans' scans:
    a Seq Scan of a large table, or a Sort of one, is what grows with the table."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(get_user_model().objects.get(username="history-benchmark"))
    for name, url in admin_pages():
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        print(f"\nexplain: {name} ({url})")
        for query in captured.captured_queries:
            if float(query["time"]) * 1000 < slower_than_ms:
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) " + query["sql"])
                plan = [row[0] for row in cursor.fetchall()]
            print(f"  {float(query['time']) * 1000:6.1f} ms  {query['sql'][:150]}")
            for line in plan:
                if any(word in line for word in ("Scan", "Sort ", "Execution Time")):
                    print(f"      {line.strip()[:140]}")


def print_admin(results: list[tuple[str, float, float, float, int, int]]) -> None:
    print(f"\n{'admin page':32} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8} {'KB':>7}")
    for name, p50, p95, worst, queries, size in results:
        flag = "" if p95 < 300 else "  over 300 ms"
        print(
            f"{name:32} {p50:>8.1f} {p95:>8.1f} {worst:>8.1f} {queries:>8} "
            f"{size / 1024:>7.0f}{flag}"
        )


def time_retention(arguments: argparse.Namespace) -> None:
    from django.conf import settings

    from subscriptions.delivery.retention import apply_retention

    first_day = arguments.last_day - timedelta(days=arguments.days - 1)
    today = first_day + timedelta(days=settings.DIGEST_ITEMS_KEEP_DAYS + 1)
    report = apply_retention(today=today)
    rate = report.items_deleted / report.seconds if report.seconds else 0
    print(
        f"\nretention as of {today} (one night: the papers of {first_day} retire): "
        f"{report.papers_retired:,} papers retired, {report.items_deleted:,} items deleted in "
        f"{report.seconds:.1f} s ({rate:,.0f} rows/s, batches of "
        f"{settings.RETENTION_BATCH_SIZE:,})"
    )
    again = apply_retention(today=today)
    print(f"retention again, same night: {again.items_deleted:,} items, {again.seconds:.2f} s")
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM subscriptions_digestitem")
    print(
        f"VACUUM subscriptions_digestitem (what autovacuum does next, migration 0021): "
        f"{time.perf_counter() - started:.1f} s"
    )


def timed(label: str, action: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = action()
    print(f"{label}: {time.perf_counter() - started:.1f} s", flush=True)
    return result


def ensure_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not exists.fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    ensure_database(arguments.database_url)
    os.environ["DATABASE_URL"] = arguments.database_url
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digest_site.settings")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(REPO_ROOT))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    timed("migrate", lambda: call_command("migrate", verbosity=0))
    print(
        f"history: {arguments.readers:,} readers x {arguments.days} days, "
        f"{arguments.papers_per_day} papers a day, "
        f"{arguments.for_you}+{arguments.trending} items a digest",
        flush=True,
    )
    if not arguments.no_fill:
        timings = fill(arguments)
        print("fill: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    sizes = table_sizes()
    print_sizes(sizes, "sizes after the fill")
    year_estimate(sizes, arguments)
    print_admin(time_admin(arguments.requests))
    if arguments.explain:
        explain_admin()
    time_retention(arguments)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print_sizes(table_sizes(), "sizes after one night of retention (deleted rows' space is reused)")
    if not arguments.keep:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(SUBSCRIPTION_TABLES)} RESTART IDENTITY CASCADE")
            cursor.execute("TRUNCATE papers_paper RESTART IDENTITY CASCADE")
        print("\ntables truncated (--keep keeps them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
