"""Building digests: who gets which papers this period, and why. Nothing is sent here.

A batch of subscribers (a contiguous id range) is built in one transaction: a ``Digest``
per subscriber and period (the database refuses a second one) with its ``DigestItem`` rows
in two sections, "For you" (the ranking's picks) and "Trending" (the fastest rising
papers of the day not already picked). A paper already sent to a subscriber is never
picked again (and the database refuses it too).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from json.encoder import encode_basestring_ascii

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from papers.models import Paper
from papers.selectors import growth_until, visible_papers, with_shown_tags
from subscriptions.delivery.schedule import period_of, readers_in_slot
from subscriptions.delivery.selectors import in_id_range
from subscriptions.delivery.trending import trending_columns, trending_for
from subscriptions.matching.candidates import (
    CandidateSet,
    candidate_papers,
    topic_profiles,
    vectorise_candidates,
)
from subscriptions.matching.interests import Interests
from subscriptions.matching.profile import feedback_papers
from subscriptions.matching.ranking import RankedPaper, rank_papers_for
from subscriptions.models import (
    Digest,
    DigestClick,
    DigestItem,
    Feedback,
    RetiredPaper,
    SavedPaper,
    Subscriber,
)

logger = logging.getLogger(__name__)


def candidate_window(*, day: date, frequency: str) -> tuple[date, date]:
    """The first and last day whose papers are candidates for a digest of ``day``."""
    days = settings.DIGESTS["CANDIDATE_DAYS"][frequency]
    return day - timedelta(days=days - 1), day


def window_papers(*, day: date, frequency: str) -> QuerySet[Paper]:
    """Visible papers featured in the window (or, never featured, published in it), never a
    retired one (who got it may be forgotten: ``subscriptions/delivery/retention.py``)."""
    start, end = candidate_window(day=day, frequency=frequency)
    return (
        visible_papers()
        .filter(
            Q(featured_on__range=(start, end))
            | Q(featured_on=None, published_on__range=(start, end))
        )
        .exclude(pk__in=RetiredPaper.objects.values("paper_id"))
    )


# One worker process serves many batches of the same run: vectorise the candidates once.
_candidate_cache: dict[tuple[date, str], tuple[str, CandidateSet]] = {}


def forget_candidates() -> None:
    """Drop the vectorised candidates kept between batches (the next batch reads them anew)."""
    _candidate_cache.clear()


def candidate_set_for(*, day: date, frequency: str) -> CandidateSet:
    """The vectorised candidates of a run, reused while the papers in it are unchanged."""
    papers = window_papers(day=day, frequency=frequency)
    # What ingest, editors and the embedding step change (bulk updates leave updated_at be).
    state = papers.order_by("pk").values_list(
        "pk", "upvotes", "pinned", "updated_at", "featured_on", "arrived_at", "embedding_key"
    )
    fingerprint = hashlib.sha256(repr(list(state)).encode()).hexdigest()
    cached = _candidate_cache.get((day, frequency))
    if cached and cached[0] == fingerprint:
        return cached[1]
    weekly = frequency == Subscriber.Frequency.WEEKLY
    candidates = vectorise_candidates(
        papers=candidate_papers(
            papers=papers, now=growth_until(day=day), hours=7 * 24 if weekly else None
        ),
        topics=topic_profiles(),
        today=day,
        growth_span="this week" if weekly else "in 24 h",
    )
    _candidate_cache.clear()
    _candidate_cache[(day, frequency)] = (fingerprint, candidates)
    return candidates


_LAST_ID = 2**62


def subscriber_id_ranges(
    *, frequency: str, size: int, readers: QuerySet[Subscriber] | None = None
) -> Iterator[tuple[int, int]]:
    """(first id, last id) ranges that tile all ids, each holding ``size`` active subscribers
    (of ``readers``, when given: those a run's slot names).

    Keyset paging: only ids are read, ``size`` at a time, so the subscribers are never all
    loaded at once. The ranges leave no gap, so a digest built earlier for someone who has
    since left still falls in a batch (and is marked skipped rather than left pending).
    """
    after = 0
    active: QuerySet[Subscriber] = (
        readers
        if readers is not None
        else Subscriber.objects.filter(status=Subscriber.Status.ACTIVE, frequency=frequency)
    )
    while True:
        ids = list(active.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:size])
        if len(ids) < size:
            yield after + 1, _LAST_ID
            return
        yield after + 1, ids[-1]
        after = ids[-1]


@dataclass
class BuildResult:
    """What building one batch did."""

    built: int = 0
    empty: int = 0


@dataclass
class _Plan:
    """Who gets what in one batch, before anything is written."""

    interests: list[Interests]
    for_you: list[list[RankedPaper]]
    trending: list[list[RankedPaper]]


def _plan(*, day: date, frequency: str, rows: Sequence[tuple]) -> _Plan:
    candidates = candidate_set_for(day=day, frequency=frequency)
    interests = _interests_of(rows)
    sent = _already_sent([_subscriber_of(i) for i in interests], candidates.paper_ids)
    for_you = rank_papers_for(
        subscribers=interests,
        candidates=candidates,
        limit=settings.DIGESTS["FOR_YOU_COUNT"],
        already_sent=sent,
        feedback=feedback_papers(interests=interests),
    )
    pool = trending_columns(
        candidates=candidates, day=day, weekly=frequency == Subscriber.Frequency.WEEKLY
    )
    trending = [
        trending_for(
            interests=person,
            for_you=picks,
            sent=sent.get(_subscriber_of(person), set()),
            candidates=candidates,
            pool=pool,
        )
        for person, picks in zip(interests, for_you, strict=True)
    ]
    return _Plan(interests, for_you, trending)


def _subscriber_of(interests: Interests) -> int:
    """Whose these interests are: ``_interests_of`` reads them for a subscriber, always."""
    assert interests.subscriber_id is not None
    return interests.subscriber_id


def _is_empty(for_you: list[RankedPaper], trending: list[RankedPaper]) -> bool:
    """No email: nothing matched, and either we skip such days or there is nothing at all."""
    return not for_you and (settings.DIGESTS["WHEN_EMPTY"] == "skip" or not trending)


def build_digest_batch(
    *, day: date, frequency: str, first_id: int, last_id: int, slot: str = ""
) -> BuildResult:
    """Build the digests of the active subscribers with ids in [first_id, last_id] that
    ``slot`` names (``schedule.py``; all of them by default).

    Subscribers who already have this period's digest are left alone, so running a batch
    twice builds nothing the second time. A subscriber with nothing to read gets a
    "skipped" digest (no email) unless ``WHEN_EMPTY`` asks for a short note.
    """
    period = period_of(day=day, frequency=frequency)
    try:
        return _build(day, frequency, period, first_id, last_id, slot)
    except IntegrityError:
        # Another copy of this batch built the same digests a moment earlier (its commit fell
        # between our look and our write). Nothing of ours was kept; theirs stand.
        logger.info("batch %s-%s of %s was built by another worker", first_id, last_id, period)
        return BuildResult()


def _build(
    day: date, frequency: str, period: str, first_id: int, last_id: int, slot: str
) -> BuildResult:
    result = BuildResult()
    with transaction.atomic():
        rows = _unbuilt(day, frequency, first_id, last_id, slot, lock=True)
        if not rows:
            return result
        plan = _plan(day=day, frequency=frequency, rows=rows)
        digests, contents = [], []
        for person, for_you, trending in zip(
            plan.interests, plan.for_you, plan.trending, strict=True
        ):
            digest = Digest(
                subscriber_id=_subscriber_of(person), period=period, day=day, frequency=frequency
            )
            if _is_empty(for_you, trending):
                digest.status = Digest.Status.SKIPPED
                digest.error = "nothing new matched the subscriber's interests"
                for_you, trending = [], []
                result.empty += 1
            digests.append(digest)
            contents.append(
                [(DigestItem.Section.FOR_YOU, p) for p in for_you]
                + [(DigestItem.Section.TRENDING, p) for p in trending]
            )
        Digest.objects.bulk_create(digests)
        _insert_items(
            (
                digest.pk,
                digest.subscriber_id,
                pick.paper_id,
                section,
                position,
                pick.score,
                _json_list(map(str, pick.reasons)),
            )
            for digest, items in zip(digests, contents, strict=True)
            for position, (section, pick) in enumerate(items, 1)
        )
        result.built = len(digests) - result.empty
    return result


def _json_list(strings: Iterable[str]) -> str:
    """``json.dumps(list(strings))``: each string encoded by json's own C encoder, without
    the set-up ``dumps`` does on every call (13 calls a digest; a test compares the two)."""
    return f"[{', '.join(map(encode_basestring_ascii, strings))}]"


_ITEM_FIELDS = ("digest", "subscriber", "paper", "section", "position", "score", "reasons")
# Rows per INSERT where there is no COPY: 4,000 x 7 values stays under SQLite's 32,766
# parameters a statement (since SQLite 3.32).
_ITEMS_PER_INSERT = 4000


def _insert_items(rows: Iterable[tuple]) -> None:
    """Insert ``DigestItem`` rows (values in ``_ITEM_FIELDS`` order, reasons as JSON text).

    The hot path of building, ten or more rows a digest. ``bulk_create`` would make a model
    instance of each and prepare each value through its field, most of the build time; on
    PostgreSQL even a plain multi-row INSERT spends its time in the driver's parsing of its
    many placeholders, so there the rows go through one COPY. Every constraint still holds.
    """
    meta = DigestItem._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    # From the concrete fields (get_field may also answer a relation, which has no column).
    column = {field.name: field.column for field in meta.concrete_fields}
    columns = ", ".join(quote(column[name]) for name in _ITEM_FIELDS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        rows = list(rows)
        row_marks = f"({', '.join(['%s'] * len(_ITEM_FIELDS))})"
        for start in range(0, len(rows), _ITEMS_PER_INSERT):
            chunk = rows[start : start + _ITEMS_PER_INSERT]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([row_marks] * len(chunk))}",
                [value for row in chunk for value in row],
            )


def preview_digest_batch(
    *, day: date, frequency: str, first_id: int, last_id: int, slot: str = ""
) -> BuildResult:
    """What ``build_digest_batch`` would build, without writing anything."""
    rows = _unbuilt(day, frequency, first_id, last_id, slot)
    plan = _plan(day=day, frequency=frequency, rows=rows)
    empty = sum(_is_empty(f, t) for f, t in zip(plan.for_you, plan.trending, strict=True))
    return BuildResult(built=len(rows) - empty, empty=empty)


def _unbuilt(
    day: date, frequency: str, first_id: int, last_id: int, slot: str, *, lock: bool = False
) -> list[tuple]:
    """(id, keywords, authors, excluded) of active subscribers in the range and the slot
    without a digest for the period."""
    period = period_of(day=day, frequency=frequency)
    subscribers = readers_in_slot(Subscriber.objects.all(), day=day, frequency=frequency, slot=slot)
    if lock:
        # Row locks (skipped when taken) keep two workers from building the same subscriber;
        # whatever slips through is stopped by the unique (subscriber, period) constraint.
        subscribers = subscribers.select_for_update(skip_locked=True, of=("self",))
    return list(
        subscribers.filter(
            pk__range=(first_id, last_id), status=Subscriber.Status.ACTIVE, frequency=frequency
        )
        .exclude(pk__in=Digest.objects.filter(period=period).values("subscriber_id"))
        .order_by("pk")
        .values_list("pk", "keywords", "authors", "excluded_keywords")
    )


def _interests_of(rows: Sequence[tuple]) -> list[Interests]:
    """Interests of the given subscribers, in six queries whatever their number."""
    # Rows of subscribers in the range but not in ``rows`` (already built, inactive) go unused.
    ids = in_id_range([row[0] for row in rows])
    topics: dict[int, list[int]] = {}
    for subscriber_id, topic_id in Subscriber.topics.through.objects.filter(**ids).values_list(
        "subscriber_id", "topic_id"
    ):
        topics.setdefault(subscriber_id, []).append(topic_id)
    liked: dict[int, list[int]] = {}
    disliked: dict[int, list[int]] = {}
    for subscriber_id, paper_id, signal in Feedback.objects.filter(**ids).values_list(
        "subscriber_id", "paper_id", "signal"
    ):
        (liked if signal > 0 else disliked).setdefault(subscriber_id, []).append(paper_id)
    saved: dict[int, list[int]] = {}
    for subscriber_id, paper_id in SavedPaper.objects.filter(**ids).values_list(
        "subscriber_id", "paper_id"
    ):
        saved.setdefault(subscriber_id, []).append(paper_id)
    clicked: dict[int, list[int]] = {}
    clicks = DigestClick.objects.filter(
        **{f"digest__{key}": value for key, value in ids.items()},
        clicked_at__gte=timezone.now() - _CLICKS_REMEMBERED,
    )
    for subscriber_id, paper_id in clicks.values_list("digest__subscriber_id", "paper_id"):
        clicked.setdefault(subscriber_id, []).append(paper_id)
    # When their last digest that went out was built: what arrived later is new to them.
    last_built = dict(
        Digest.objects.filter(**ids, status__in=[Digest.Status.SENT, Digest.Status.UNKNOWN])
        .values("subscriber_id")
        .annotate(last=Max("created_at"))
        .values_list("subscriber_id", "last")
    )
    return [
        Interests(
            subscriber_id=pk,
            topic_ids=tuple(topics.get(pk, ())),
            keywords=tuple(keywords),
            authors=tuple(authors),
            excluded=tuple(excluded),
            since=_arrived_after(last_built.get(pk)),
            liked=tuple(liked.get(pk, ())),
            disliked=tuple(disliked.get(pk, ())),
            saved=tuple(saved.get(pk, ())),
            clicked=tuple(clicked.get(pk, ())),
        )
        for pk, keywords, authors, excluded in rows
    ]


# Clicks steer the ranking for this long: they pile up with every digest, and a batch
# reads its readers' on every run.
_CLICKS_REMEMBERED = timedelta(days=90)

# A batch reads its candidates before it writes its digests, and a paper's arrival is
# stamped before its ingest commits: a paper committed between the two would fall before
# ``since`` without ever having been a candidate. Papers that old are candidates once more;
# those the reader was sent stay out (a DigestItem each).
_ARRIVAL_MARGIN = timedelta(minutes=10)


def _arrived_after(last_built: datetime | None) -> datetime | None:
    return last_built - _ARRIVAL_MARGIN if last_built else None


def _already_sent(subscriber_ids: list[int], paper_ids: list[int]) -> dict[int, set[int]]:
    sent: dict[int, set[int]] = {}
    for subscriber_id, paper_id in DigestItem.objects.filter(
        **in_id_range(subscriber_ids), paper_id__in=paper_ids
    ).values_list("subscriber_id", "paper_id"):
        sent.setdefault(subscriber_id, set()).add(paper_id)
    return sent


def preview_digest(*, subscriber: Subscriber, day: date) -> tuple[Digest, list[DigestItem]]:
    """The digest ``subscriber`` would get for ``day``, unsaved: nothing is written or sent."""
    row = (subscriber.pk, subscriber.keywords, subscriber.authors, subscriber.excluded_keywords)
    plan = _plan(day=day, frequency=subscriber.frequency, rows=[row])
    digest = Digest(
        subscriber=subscriber,
        period=period_of(day=day, frequency=subscriber.frequency),
        day=day,
        frequency=subscriber.frequency,
    )
    picks = [(DigestItem.Section.FOR_YOU, p) for p in plan.for_you[0]] + [
        (DigestItem.Section.TRENDING, p) for p in plan.trending[0]
    ]
    papers = with_shown_tags(Paper.objects.filter(pk__in=[p.paper_id for _, p in picks]))
    by_id = {paper.pk: paper for paper in papers}
    items = [
        DigestItem(
            digest=digest,
            subscriber=subscriber,
            paper=by_id[pick.paper_id],
            section=section,
            position=position,
            score=pick.score,
            reasons=[str(reason) for reason in pick.reasons],
        )
        for position, (section, pick) in enumerate(picks, 1)
    ]
    return digest, items
