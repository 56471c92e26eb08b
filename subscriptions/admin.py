"""Admin for subscribers and digests: who gets what, and whether sending works.

Actions that send mail or queue work are POSTs with a confirmation page; each change is
written to Django's admin log.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import transaction
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from papers.admin import PaperAdmin, TopicAdmin
from papers.models import Paper, Topic

from .digests import preview_digest
from .emails import digest_context, digest_email
from .emails import render as render_email
from .models import Digest, DigestItem, DigestRun, Feedback, Subscriber
from .selectors import digests_with_content
from .sending import retry_failed_digests
from .signup import request_confirmation
from .tasks import send_pending_batch

_EXPORT_CHUNK = 2000


def _confirmed(request: HttpRequest) -> bool:
    return request.POST.get("confirmed") == "yes"


def _confirmation_page(
    request: HttpRequest, queryset: QuerySet[Any], *, action: str, title: str, warning: str
) -> HttpResponse:
    """The intermediate page of an action: what it will do, to whom, and one button."""
    context = {
        **admin.site.each_context(request),
        "title": title,
        "warning": warning,
        "objects": queryset[:100],
        "count": queryset.count(),
        "action": action,
        "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
        "checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return render(request, "admin/confirm_action.html", context)


class FeedbackInline(admin.TabularInline):
    model = Feedback
    extra = 0
    fields = ["paper", "signal", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Feedback]:
        return super().get_queryset(request).select_related("paper")


class DigestInline(admin.TabularInline):
    model = Digest
    extra = 0
    fields = ["period", "status", "sent_at", "error", "open_link"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True
    ordering = ["-day"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="preview")
    def open_link(self, digest: Digest) -> str:
        url = reverse("admin:subscriptions_digest_preview", args=[digest.pk])
        return format_html('<a href="{}">view</a>', url)


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["email", "status", "frequency", "topic_names", "created_at", "last_digest"]
    list_filter = ["status", "frequency", "topics"]
    search_fields = ["email"]
    filter_horizontal = ["topics"]
    readonly_fields = ["created_at", "confirmed_at", "unsubscribed_at", "preview_link"]
    inlines = [FeedbackInline, DigestInline]
    actions = ["resend_confirmation", "suppress", "export_csv"]
    list_per_page = 100

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscriber]:
        last_sent = (
            Digest.objects.filter(subscriber=OuterRef("pk"), status=Digest.Status.SENT)
            .order_by("-day")
            .values("day")[:1]
        )
        return (
            super()
            .get_queryset(request)
            .annotate(last_digest_day=Subquery(last_sent))
            .prefetch_related("topics")
        )

    @admin.display(description="topics")
    def topic_names(self, subscriber: Subscriber) -> str:
        return ", ".join(topic.name for topic in subscriber.topics.all())

    @admin.display(description="last digest", ordering="last_digest_day")
    def last_digest(self, subscriber: Subscriber) -> date | None:
        return getattr(subscriber, "last_digest_day", None)

    @admin.display(description="today's digest")
    def preview_link(self, subscriber: Subscriber) -> str:
        if not subscriber.pk:
            return "-"
        url = reverse("admin:subscriptions_subscriber_preview", args=[subscriber.pk])
        return format_html('<a href="{}">Preview, or send a test to an address</a>', url)

    @admin.action(description="Resend the confirmation email (pending subscribers)")
    def resend_confirmation(
        self, request: HttpRequest, queryset: QuerySet[Subscriber]
    ) -> HttpResponse | None:
        pending = queryset.filter(status=Subscriber.Status.PENDING)
        if not _confirmed(request):
            return _confirmation_page(
                request,
                pending,
                action="resend_confirmation",
                title="Resend confirmation emails?",
                warning="Each pending subscriber below gets one confirmation email "
                "(at most one an hour per address).",
            )
        sent = 0
        for subscriber in pending:
            if request_confirmation(subscriber):
                sent += 1
                self.log_change(request, subscriber, "Confirmation email requested again.")
        self.message_user(request, f"{sent} confirmation emails queued.")
        return None

    @admin.action(description="Suppress: never email them again")
    def suppress(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        people = list(queryset.exclude(status=Subscriber.Status.SUPPRESSED))
        Subscriber.objects.filter(pk__in=[p.pk for p in people]).update(
            status=Subscriber.Status.SUPPRESSED, unsubscribed_at=timezone.now()
        )
        for subscriber in people:
            self.log_change(request, subscriber, "Suppressed.")
        self.message_user(request, f"Suppressed {len(people)} subscribers.")

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> HttpResponse:
        ids = queryset.values("pk")
        response = StreamingHttpResponse(_csv_rows(ids), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="subscribers.csv"'
        return response

    def get_urls(self) -> list[Any]:
        preview = self.admin_site.admin_view(self.preview_view)
        return [
            path("<int:pk>/preview/", preview, name="subscriptions_subscriber_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The digest this subscriber would get today, and a form to send it to an address."""
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        subscriber = get_object_or_404(Subscriber, pk=pk)
        day = _preview_day(request)
        digest, items = preview_digest(subscriber=subscriber, day=day)
        form = TestSendForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            address = form.cleaned_data["address"]
            digest_email(digest, items, to=address).send()
            self.log_change(request, subscriber, f"Test digest for {day} sent to {address}.")
            self.message_user(request, f"Test digest sent to {address}.")
        _, text, html = render_email("digest", digest_context(digest, items))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Digest of {subscriber.email} for {day}",
            "subscriber": subscriber,
            "day": day,
            "html": html,
            "text": text,
            "form": form,
            "count": len(items),
        }
        return render(request, "admin/subscriptions/digest_preview.html", context)


def _preview_day(request: HttpRequest) -> date:
    try:
        return date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        return timezone.localdate()


class TestSendForm(forms.Form):
    address = forms.EmailField(label="Send this digest as a test to")


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(ids: QuerySet[Any]) -> Iterator[str]:
    """CSV lines of the subscribers, read a chunk at a time (streamed: 100,000 rows is fine)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(
        ["email", "status", "frequency", "topics", "keywords", "authors", "excluded", "joined"]
    )
    after = 0
    while True:
        chunk = list(
            Subscriber.objects.filter(pk__in=ids, pk__gt=after)
            .order_by("pk")
            .values_list(
                "pk",
                "email",
                "status",
                "frequency",
                "keywords",
                "authors",
                "excluded_keywords",
                "created_at",
            )[:_EXPORT_CHUNK]
        )
        if not chunk:
            return
        topics: dict[int, list[str]] = {}
        for subscriber_id, slug in Subscriber.topics.through.objects.filter(
            subscriber_id__in=[row[0] for row in chunk]
        ).values_list("subscriber_id", "topic__slug"):
            topics.setdefault(subscriber_id, []).append(slug)
        for pk, email, status, frequency, keywords, authors, excluded, joined in chunk:
            yield writer.writerow(
                [
                    email,
                    status,
                    frequency,
                    " ".join(sorted(topics.get(pk, []))),
                    "; ".join(keywords),
                    "; ".join(authors),
                    "; ".join(excluded),
                    joined.isoformat(),
                ]
            )
        after = chunk[-1][0]


class DigestItemInline(admin.TabularInline):
    model = DigestItem
    extra = 0
    can_delete = False
    fields = ["section", "position", "paper", "score", "reasons"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[DigestItem]:
        return super().get_queryset(request).select_related("paper")


@admin.register(Digest)
class DigestAdmin(admin.ModelAdmin):
    list_display = ["period", "subscriber", "status", "attempts", "sent_at", "error"]
    list_filter = ["status", "frequency", "day"]
    search_fields = ["subscriber__email", "esp_message_id"]
    list_select_related = ["subscriber"]
    readonly_fields = [f.name for f in Digest._meta.fields]
    inlines = [DigestItemInline]
    actions = ["retry_failed"]
    change_list_template = "admin/subscriptions/digest/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Retry selected failed digests")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Digest]) -> HttpResponse | None:
        failed = queryset.filter(status=Digest.Status.FAILED).select_related("subscriber")
        if not _confirmed(request):
            return _confirmation_page(
                request,
                failed,
                action="retry_failed",
                title="Retry failed digests?",
                warning="Each failed digest below goes back to pending and is sent once more. "
                "Sent digests and those with an unknown outcome are never resent.",
            )
        digests = list(failed)
        ranges = retry_failed_digests(digest_ids=[d.pk for d in digests])
        for digest in digests:
            self.log_change(request, digest, "Queued for another send.")
        for period, first_id, last_id in ranges:
            transaction.on_commit(
                lambda p=period, f=first_id, last=last_id: send_pending_batch.delay(p, f, last)
            )
        self.message_user(request, f"{len(digests)} failed digests queued to be sent again.")
        return None

    def get_urls(self) -> list[Any]:
        summary = self.admin_site.admin_view(self.summary_view)
        preview = self.admin_site.admin_view(self.preview_view)
        return [
            path("summary/", summary, name="subscriptions_digest_summary"),
            path("<int:pk>/preview/", preview, name="subscriptions_digest_preview"),
            *super().get_urls(),
        ]

    def summary_view(self, request: HttpRequest) -> HttpResponse:
        """Per day and frequency: built, sent, failed, unknown, skipped; and the failures."""
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        by_status = {
            status: Count("pk", filter=Q(status=status)) for status in Digest.Status.values
        }
        days = (
            Digest.objects.values("period", "frequency")
            .annotate(built=Count("pk"), **by_status)
            .order_by("-period", "frequency")[:60]
        )
        period = request.GET.get("period") or (days[0]["period"] if days else "")
        failures = (
            Digest.objects.filter(period=period, status=Digest.Status.FAILED)
            .select_related("subscriber")
            .order_by("subscriber__email")[:200]
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "Digests by day",
            "days": days,
            "period": period,
            "failures": failures,
            "runs": DigestRun.objects.exclude(paused_reason="")[:10],
        }
        return render(request, "admin/subscriptions/digest_summary.html", context)

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """A past digest as it was sent: HTML and text, nothing sent."""
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        digest = get_object_or_404(digests_with_content(), pk=pk)
        _, text, html = render_email("digest", digest_context(digest))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Digest {digest.period} of {digest.subscriber.email} ({digest.status})",
            "subscriber": digest.subscriber,
            "day": digest.day,
            "html": html,
            "text": text,
            "form": None,
            "count": digest.items.count(),
        }
        return render(request, "admin/subscriptions/digest_preview.html", context)


@admin.register(DigestRun)
class DigestRunAdmin(admin.ModelAdmin):
    list_display = ["period", "frequency", "started_at", "finished_at", "paused_reason"]
    readonly_fields = ["period", "frequency", "started_at", "finished_at"]
    fields = ["period", "frequency", "started_at", "finished_at", "paused_reason"]


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["subscriber", "paper", "signal", "created_at"]
    list_select_related = ["subscriber", "paper"]


class DigestsOfPaperInline(admin.TabularInline):
    """Which digests included a paper (shown on the paper's page)."""

    model = DigestItem
    fk_name = "paper"
    extra = 0
    can_delete = False
    fields = ["digest", "subscriber", "section", "position", "score"]
    readonly_fields = fields
    verbose_name_plural = "digests that included this paper"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[DigestItem]:
        return super().get_queryset(request).select_related("digest", "subscriber")


class PaperWithDigestsAdmin(PaperAdmin):
    # Declared here, not in papers/: papers know nothing about subscribers.
    inlines = [*PaperAdmin.inlines, DigestsOfPaperInline]


class TopicWithSubscribersAdmin(TopicAdmin):
    list_display = [*TopicAdmin.list_display, "subscriber_count"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Topic]:
        followers = Subscriber.objects.filter(topics=OuterRef("pk")).values("topics")
        count = followers.annotate(n=Count("pk")).values("n")
        return super().get_queryset(request).annotate(subscriber_count=Subquery(count))

    @admin.display(description="subscribers", ordering="subscriber_count")
    def subscriber_count(self, topic: Topic) -> int:
        return getattr(topic, "subscriber_count", None) or 0


admin.site.unregister(Paper)
admin.site.register(Paper, PaperWithDigestsAdmin)
admin.site.unregister(Topic)
admin.site.register(Topic, TopicWithSubscribersAdmin)
