"""A subscriber's interests as plain values, and the rules they must follow."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from django.conf import settings

from papers.models import Topic
from papers.selectors import find_papers
from papers.text import phrase_key


@dataclass(frozen=True, slots=True)
class Interests:
    """What one subscriber wants to read: the input of ranking."""

    subscriber_id: int | None = None
    topic_ids: tuple[int, ...] = ()
    keywords: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    # When their last digest was built: only papers that arrived later are new to them.
    since: datetime | None = None
    # Papers they marked "more like this" / "less like this".
    liked: tuple[int, ...] = ()
    disliked: tuple[int, ...] = ()
    # Other papers they showed they want, with a weight (papers they pasted at sign-up;
    # saves, clicks): read by ``profile.profile_signals``.
    positives: tuple[tuple[int, float], ...] = ()
    # Papers they saved for later (strong "more like this") and followed from a digest (mild).
    saved: tuple[int, ...] = ()
    clicked: tuple[int, ...] = ()

    @property
    def is_empty(self) -> bool:
        """No topic, keyword or author: nothing to match papers against."""
        return not (self.topic_ids or self.keywords or self.authors)


_SEPARATORS = re.compile(r"[,\n;]")


def split_phrases(*texts: str) -> list[str]:
    """The phrases typed in one or more boxes, separated by commas, semicolons or lines:
    how the form and ``manage.py rank`` read what a reader typed."""
    return [
        part.strip() for text in texts for part in _SEPARATORS.split(text or "") if part.strip()
    ]


class InterestsError(ValueError):
    """Interests that break the rules; ``errors`` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()))


def clean_interests(
    *,
    topic_slugs: Iterable[str] = (),
    keywords: Iterable[str] = (),
    authors: Iterable[str] = (),
    excluded: Iterable[str] = (),
    subscriber_id: int | None = None,
) -> Interests:
    """Validated, de-duplicated interests; ``InterestsError`` says what is wrong, per field.

    Phrases are trimmed and must be short enough and few enough; topics must exist; at least
    one topic, keyword or author is required.
    """
    limits = settings.INTEREST_LIMITS
    errors: dict[str, list[str]] = {}
    cleaned_keywords = _clean_phrases(
        keywords, "keywords", limits["MAX_KEYWORDS"], errors, needs_words=True
    )
    cleaned_authors = _clean_phrases(authors, "authors", limits["MAX_AUTHORS"], errors)
    cleaned_excluded = _clean_phrases(
        excluded, "excluded", limits["MAX_EXCLUDED"], errors, needs_words=True
    )
    slugs = list(dict.fromkeys(slug.strip() for slug in topic_slugs if slug.strip()))
    topics = dict(Topic.objects.filter(slug__in=slugs).values_list("slug", "pk"))
    unknown = [slug for slug in slugs if slug not in topics]
    if unknown:
        errors.setdefault("topics", []).append(f"Unknown topic: {', '.join(unknown)}.")
    interests = Interests(
        subscriber_id=subscriber_id,
        topic_ids=tuple(topics[slug] for slug in slugs if slug in topics),
        keywords=cleaned_keywords,
        authors=cleaned_authors,
        excluded=cleaned_excluded,
    )
    if not errors and interests.is_empty:
        errors["__all__"] = ["Choose at least one topic, keyword or author to follow."]
    if errors:
        raise InterestsError(errors)
    return interests


def _clean_phrases(
    values: Iterable[str],
    field: str,
    max_count: int,
    errors: dict[str, list[str]],
    *,
    needs_words: bool = False,
) -> tuple[str, ...]:
    max_length = settings.INTEREST_LIMITS["MAX_PHRASE_LENGTH"]
    seen: dict[str, str] = {}
    for value in values:
        phrase = " ".join(value.split())
        if not phrase:
            continue
        if len(phrase) > max_length:
            errors.setdefault(field, []).append(
                f"“{phrase[:30]}…” is too long ({len(phrase)} characters; at most {max_length})."
            )
            continue
        if needs_words and not phrase_key(phrase):
            errors.setdefault(field, []).append(
                f"“{phrase}” has no word to match (only common words or symbols)."
            )
            continue
        seen.setdefault(phrase.casefold(), phrase)
    if len(seen) > max_count:
        errors.setdefault(field, []).append(f"At most {max_count} entries, not {len(seen)}.")
    return tuple(seen.values())


# How much a paper a reader pasted as one they liked counts in their profile (a like is 1).
SEED_PAPER_WEIGHT = 1.0


def with_seed_papers(interests: Interests, *, entries: Iterable[str]) -> Interests:
    """``interests`` with the papers a reader named as liked (arXiv ids, arXiv or Hugging Face
    links, titles; ``papers.selectors.find_papers``) as weighted positives of their profile.
    ``InterestsError`` names the entries not found, or too many of them."""
    entries = [entry.strip() for entry in entries if entry.strip()]
    if not entries:
        return interests
    limit = settings.INTEREST_LIMITS["MAX_SEED_PAPERS"]
    if len(entries) > limit:
        raise InterestsError({"seed_papers": [f"At most {limit} papers, not {len(entries)}."]})
    found, missing = find_papers(entries=entries)
    if missing:
        shown = ", ".join(f"“{entry[:60]}”" for entry in missing[:5])
        raise InterestsError(
            {"seed_papers": [f"Not among the papers we have: {shown}. Try its arXiv id or link."]}
        )
    seeds = tuple((pk, SEED_PAPER_WEIGHT) for pk in dict.fromkeys(found.values()))
    return replace(interests, positives=seeds)
