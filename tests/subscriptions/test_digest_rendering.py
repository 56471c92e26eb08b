"""How digests are put together quickly: stencils, encoded subjects, chunked claims."""

import gc
import json
import re
from datetime import date
from email.policy import compat32
from html import escape

import pytest
from bs4 import BeautifulSoup
from django.conf import settings
from django.core import mail
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from papers.models import Paper, Topic
from papers.text import one_line_summary
from subscriptions.delivery import content, digests, links, pool, render, runs, sending
from subscriptions.delivery.digests import build_digest_batch
from subscriptions.delivery.runs import run_in_process
from subscriptions.delivery.stencils import Stencil
from subscriptions.mime import QuickFold
from subscriptions.models import Digest, DigestItem
from tests.factories import make_subscriber
from tests.subscriptions.helpers import html_part

DAY = date(2025, 11, 6)


def unescape_characters(html: str) -> str:
    """``html`` with numeric character references as the characters (markup left as it is)."""
    return re.sub(r"&#(\d+);", lambda match: chr(int(match[1])), html)


def test_a_stencil_escapes_what_it_fills_in_unless_marked_safe(tmp_path, settings):
    engine = settings.TEMPLATES[0]
    settings.TEMPLATES = [{**engine, "DIRS": [tmp_path, *engine["DIRS"]]}]
    (tmp_path / "card.html").write_text('<a href="{{ url }}">{{ title }}</a>{{ body }}')
    stencil = Stencil.render(
        "card.html", {"title": "A & B"}, slots=("url", "body"), html=True, postprocess=None
    )
    filled = stencil.fill({"url": "/x?a=1&b=2", "body": mark_safe("<p>ok</p>")})
    assert filled == '<a href="/x?a=1&amp;b=2">A &amp; B</a><p>ok</p>'
    text = Stencil.render("card.html", {"title": "t"}, slots=("url", "body"), html=False)
    assert text.fill({"url": "<u>", "body": "&"}) == '<a href="<u>">t</a>&'


@pytest.mark.django_db
def test_a_digest_serialises_as_with_the_standard_policy(face_readers):
    run_in_process(day=DAY, frequency="daily")
    message = mail.outbox[0].message()
    assert message.policy.__class__ is QuickFold
    quick = message.as_bytes()
    message.policy = compat32
    assert quick == message.as_bytes()


@pytest.fixture
def face_readers(seeded):
    faces = Topic.objects.get(slug="face-analysis")
    return [make_subscriber(email=f"reader{i}@example.org", topics=[faces]) for i in range(4)]


@pytest.mark.django_db
def test_a_changed_paper_is_rendered_anew(face_readers):
    run_in_process(day=DAY, frequency="daily")
    assert "Faceptor: A Generalist Model for Face Perception" in html_part(mail.outbox[0])
    # The next day's digest of someone new, after a curator fixed the title.
    Paper.objects.filter(title__startswith="Faceptor").update(title="Faceptor, corrected")
    mail.outbox.clear()
    make_subscriber(email="late@example.org", topics=[Topic.objects.get(slug="face-analysis")])
    run_in_process(day=DAY, frequency="daily")
    [email] = mail.outbox
    assert "Faceptor, corrected" in html_part(email) and "Faceptor, corrected" in email.body
    assert "Generalist Model" not in html_part(email)


@pytest.mark.django_db
def test_a_chunk_sends_only_what_it_claimed(face_readers):
    build_digest_batch(day=DAY, frequency="daily", first_id=1, last_id=10**9)
    digests = list(Digest.objects.select_related("subscriber").order_by("subscriber_id"))
    # Another worker claimed the first; the second subscriber left since the build.
    Digest.objects.filter(pk=digests[0].pk).update(status="sending")
    face_readers[1].status = "unsubscribed"
    face_readers[1].save()
    report = sending.send_chunk(digests)
    assert (report.sent, report.skipped) == (2, 2)
    assert sorted(m.to[0] for m in mail.outbox) == ["reader2@example.org", "reader3@example.org"]
    statuses = dict(Digest.objects.values_list("subscriber__email", "status"))
    assert statuses == {
        "reader0@example.org": "sending",  # the other worker's, untouched
        "reader1@example.org": "skipped",
        "reader2@example.org": "sent",
        "reader3@example.org": "sent",
    }
    sent = Digest.objects.filter(status="sent")
    assert all(d.esp_message_id and d.sent_at and d.attempts == 1 for d in sent)


@pytest.mark.django_db
def test_a_send_our_code_breaks_around_stays_in_doubt_and_the_others_go(face_readers, monkeypatch):
    build_digest_batch(day=DAY, frequency="daily", first_id=1, last_id=10**9)
    calls = []
    original = pool.SendPool._hand_over

    def hand_over(self, digest_id, email, connection):
        calls.append(digest_id)
        if len(calls) == 3:
            raise RuntimeError("the worker's code broke")
        return original(self, digest_id, email, connection)

    monkeypatch.setattr(pool.SendPool, "_hand_over", hand_over)
    digests = list(Digest.objects.select_related("subscriber").order_by("subscriber_id"))
    report = sending.send_chunk(digests)
    statuses = sorted(Digest.objects.values_list("status", flat=True))
    # It broke around a hand-over: the ESP may have it, so it is never resent blindly
    # ("sending", later "unknown"); the other three went.
    assert statuses == ["sending", "sent", "sent", "sent"]
    assert (report.sent, len(mail.outbox)) == (3, 3)


@pytest.mark.django_db
def test_an_error_between_claims_records_what_was_sent_and_frees_what_was_not(
    face_readers, monkeypatch, settings
):
    settings.DIGESTS = {**settings.DIGESTS, "SEND_CONCURRENCY": 2}
    build_digest_batch(day=DAY, frequency="daily", first_id=1, last_id=10**9)
    claims = []
    original = sending._record_and_claim

    def record_and_claim(outcomes, digest_ids):
        claims.append(digest_ids)
        if len(claims) == 2:
            raise RuntimeError("the database went away")
        return original(outcomes, digest_ids)

    monkeypatch.setattr(sending, "_record_and_claim", record_and_claim)
    period = Digest.objects.first().period
    with pytest.raises(RuntimeError):
        sending.send_pending_digests(period=period, first_id=1, last_id=10**9)
    rows = list(Digest.objects.order_by("subscriber_id").values_list("status", "attempts"))
    # The first answer came (and was recorded after the error); the second send had
    # started and finished, or was not yet started and went back to pending. The next two
    # were never claimed. Nothing is left "sending".
    assert rows[0] == ("sent", 1)
    assert rows[1] in {("sent", 1), ("pending", 1)}
    assert rows[2:] == [("pending", 0), ("pending", 0)]
    assert sum(status == "sent" for status, _ in rows) == len(mail.outbox)


@pytest.mark.django_db
def test_every_link_follows_the_site_url(face_readers, settings):
    run_in_process(day=DAY, frequency="daily")  # links made (and cached) for the default site
    settings.SITE_URL = "https://digest.example"
    mail.outbox.clear()
    make_subscriber(email="late@example.org", topics=[Topic.objects.get(slug="face-analysis")])
    run_in_process(day=DAY, frequency="daily")
    [email] = mail.outbox
    links = re.findall(r"https?://[^/\s\"<>]+", email.body + html_part(email))
    assert links and {link for link in links if "arxiv.org" not in link} == {
        "https://digest.example"
    }
    assert email.extra_headers["List-Unsubscribe"].startswith("<https://digest.example/")


@pytest.mark.django_db
def test_digest_items_keep_any_text_in_their_reasons(face_readers):
    build_digest_batch(day=DAY, frequency="daily", first_id=1, last_id=10**9)
    digest = Digest.objects.first()
    paper = Paper.objects.exclude(digest_items__subscriber=digest.subscriber).first()
    nasty = ['keyword: a\tb\\c "d"', "ünï\ncode \x01 ∑", "\\N", ""]
    DigestItem.objects.filter(digest=digest).delete()
    digests._insert_items(
        [(digest.pk, digest.subscriber_id, paper.pk, "for_you", 1, 0.5, json.dumps(nasty))]
    )
    [item] = DigestItem.objects.filter(digest=digest)
    assert (item.reasons, item.score, item.section, item.paper_id) == (
        nasty,
        0.5,
        "for_you",
        paper.pk,
    )


@pytest.mark.django_db
def test_a_title_that_looks_like_a_slot_is_shown_as_it_is(face_readers):
    odd = "Faceptor \ue000reasons\ue001 \ue000nope\ue001"
    Paper.objects.filter(title__startswith="Faceptor").update(title=odd)
    totals = run_in_process(day=DAY, frequency="daily")
    assert totals.sent == 4 and totals.failed == 0
    assert all(odd in email.body for email in mail.outbox)


@pytest.mark.django_db
def test_the_html_part_is_ascii_and_reads_as_written(face_readers):
    title = "Faceptor: Ünïcode 中文 “perception” ≥ 70% — <b>&</b>"
    Paper.objects.filter(title__startswith="Faceptor").update(title=title)
    run_in_process(day=DAY, frequency="daily")
    email = mail.outbox[0]
    html = html_part(email)
    # Each character outside ASCII is a character reference, which a mail client shows as the
    # character: the part needs no 8-bit transfer.
    assert html.isascii() and "&#20013;&#25991;" in html
    assert escape(title) in unescape_characters(html)
    assert title in email.body
    assert [part["Content-Transfer-Encoding"] for part in email.message().get_payload()] == [
        "8bit",
        "7bit",
    ]


def test_filling_some_slots_leaves_the_others():
    stencil = Stencil(("<a href='", "url", "'>", "title", "</a>", "note", ""), html=True)
    partly = stencil.fill_some({"title": "A & B", "url": "/x?a=1&b=2"})
    assert partly.pieces == ("<a href='/x?a=1&amp;b=2'>A &amp; B</a>", "note", "")
    assert partly.fill({"note": "é"}) == stencil.fill(
        {"url": "/x?a=1&b=2", "title": "A & B", "note": "é"}
    )


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["paper", "trending"])
@pytest.mark.parametrize("with_reasons", [True, False])
def test_a_paper_filled_into_its_shape_reads_as_the_paper_rendered_whole(
    seeded, kind, with_reasons
):
    """A paper's fragment, made from the stencil of its shape, shows what rendering its
    template with the paper itself shows: the same text, in the same order, and the same links."""
    reader = {"number": "3", "reasons": "topic: Face analysis", "more_url": "https://m/?a=1&b=2"}
    reader["less_url"] = "https://l/"
    reader["save_url"] = "https://s/?paper=1"
    faces = content.paper_faces(set(Paper.objects.values_list("pk", flat=True)))
    assert any(not face.github_url for face in faces.values())  # more than one shape
    for face in faces.values():
        reader["url"] = links.paper_link(settings.SITE_URL, face.pk)
        whole = {
            "paper": face,
            "has_reasons": with_reasons,
            "summary": one_line_summary(summary=face.summary, abstract=face.abstract),
            **reader,
            **{name: getattr(face, name) for name in PAPER_VALUES},
            "topics": face.topics,
        }
        stencil = render._paper_stencil(f"{kind}.txt", face, settings.SITE_URL, with_reasons)
        assert stencil.fill(reader) == render_to_string(f"emails/digest/{kind}.txt", whole)
        stencil = render._paper_stencil(f"{kind}.html", face, settings.SITE_URL, with_reasons)
        ours = BeautifulSoup(stencil.fill(reader), "html.parser")
        theirs = BeautifulSoup(render_to_string(f"emails/digest/{kind}.html", whole), "html.parser")
        assert ours.get_text(" ", strip=True) == theirs.get_text(" ", strip=True)
        assert [a["href"] for a in ours("a")] == [a["href"] for a in theirs("a")]


PAPER_VALUES = ("title", "author_summary", "upvotes", "arxiv_url", "pdf_url", "github_url")
PAPER_VALUES += ("thumbnail_url",)


@pytest.mark.django_db
def test_a_batch_leaves_nothing_frozen_for_the_garbage_collector(face_readers, monkeypatch):
    frozen_during = []
    send = runs.send_pending_digests

    def send_and_look(**kwargs):
        frozen_during.append(gc.get_freeze_count())
        return send(**kwargs)

    monkeypatch.setattr(runs, "send_pending_digests", send_and_look)
    run_in_process(day=DAY, frequency="daily")
    assert frozen_during[0] > 0 and gc.get_freeze_count() == 0
    assert len(mail.outbox) == 4

    def fail(**kwargs):
        raise RuntimeError("ESP unreachable")

    monkeypatch.setattr(runs, "send_pending_digests", fail)
    with pytest.raises(RuntimeError):
        runs.process_batch(day=DAY, frequency="daily", first_id=1, last_id=10**9)
    assert gc.get_freeze_count() == 0
