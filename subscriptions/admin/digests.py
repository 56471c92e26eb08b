"""Digests: the list, a summary by day, previews, and retrying failed ones."""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone

from subscriptions.admin.common import (
    SEARCH_LIMIT,
    CappedCountPaginator,
    action_confirmed,
    confirmation_page,
)
from subscriptions.delivery.engagement import (
    engagement_by_day,
    engagement_by_topic,
    most_clicked_papers,
)
from subscriptions.delivery.links import inert_links
from subscriptions.delivery.render import render_digest
from subscriptions.delivery.selectors import digests_with_content
from subscriptions.delivery.sending import retry_failed_digests
from subscriptions.email_pages import shows_email_html
from subscriptions.models import Digest, DigestCount, DigestItem, DigestRun, Feedback, Subscriber
from subscriptions.tasks import send_pending_batch


class DigestItemInline(admin.TabularInline):
    model = DigestItem
    extra = 0
    can_delete = False
    fields = ("section", "position", "paper", "score", "reasons")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[DigestItem]:
        # The papers by id in a second query: joined, PostgreSQL hashed the whole papers
        # table for 13 rows (a year of papers is 36,000). No join to the digest either.
        return (
            super().get_queryset(request).order_by("section", "position").prefetch_related("paper")
        )


class IncludedPaperFilter(admin.SimpleListFilter):
    """The digests that included a paper (``?paper=<id>``, the link on a paper's page)."""

    title = "paper included"
    parameter_name = "paper"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # Only the chosen paper: listing every paper would read the whole papers table.
        value = self.value()
        return [(value, f"paper {value}")] if value and value.isdigit() else []

    def queryset(self, request: HttpRequest, queryset: QuerySet[Digest]) -> QuerySet[Digest]:
        value = self.value()
        if not value or not value.isdigit():
            return queryset
        included = DigestItem.objects.filter(paper_id=int(value)).values("digest_id")
        return queryset.filter(pk__in=included)


@admin.register(Digest)
class DigestAdmin(admin.ModelAdmin):
    list_display = ["period", "subscriber", "status", "attempts", "sent_at", "error"]
    list_filter = ["status", "frequency", "day", IncludedPaperFilter]
    # Newest first by the primary key (ids grow with time); the model's "-created_at" has no
    # index, and one would cost 30 bytes a digest.
    ordering = ["-id"]
    search_help_text = (
        "The start of an address (any case), or a digest id (the digest_id the ESP shows in "
        "the message's metadata)."
    )
    search_fields = ["subscriber__email"]  # read by get_search_results
    list_select_related = ["subscriber"]
    show_full_result_count = False
    paginator = CappedCountPaginator
    readonly_fields = [f.name for f in Digest._meta.fields]
    inlines = [DigestItemInline]
    actions = ["retry_failed"]
    change_list_template = "admin/subscriptions/digest/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Digest], search_term: str
    ) -> tuple[QuerySet[Digest], bool]:
        """Only searches an index can answer: the start of the subscriber's address (the
        lower(email) indexes), or the digest's id. Not the ESP message id: an index for it
        would take 40 bytes a digest (1.5 GB a year at 100,000 readers), and every message
        carries its digest id in its metadata."""
        term = search_term.strip()
        if not term:
            return queryset, False
        # Ids, not a subquery: "subscriber_id = ANY(...) OR id = n" is two index scans
        # OR'ed; an OR over a subquery is a scan of the whole table.
        people = list(
            Subscriber.objects.with_email_starting(term).values_list("pk", flat=True)[:SEARCH_LIMIT]
        )
        by_id = [int(term)] if term.isdigit() and len(term) < 19 else []
        return queryset.filter(Q(subscriber_id__in=people) | Q(pk__in=by_id)), False

    @admin.action(description="Retry selected failed digests")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Digest]) -> HttpResponse | None:
        failed = queryset.filter(status=Digest.Status.FAILED).select_related("subscriber")
        if not action_confirmed(request):
            return confirmation_page(
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
            transaction.on_commit(partial(send_pending_batch.delay, period, first_id, last_id))
        self.message_user(request, f"{len(digests)} failed digests queued to be sent again.")
        return None

    def get_urls(self) -> list[Any]:
        summary = self.admin_site.admin_view(self.summary_view)
        preview = self.admin_site.admin_view(shows_email_html(self.preview_view))
        engagement = self.admin_site.admin_view(self.engagement_view)
        return [
            path("summary/", summary, name="subscriptions_digest_summary"),
            path("engagement/", engagement, name="subscriptions_digest_engagement"),
            path("<int:pk>/preview/", preview, name="subscriptions_digest_preview"),
            *super().get_urls(),
        ]

    def summary_view(self, request: HttpRequest) -> HttpResponse:
        """Per day and frequency: built, sent, failed, unknown, skipped, what was in doubt
        and how it was settled; and the failures."""
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        # Kept as the runs go (delivery/counts.py): a row a period, not a GROUP BY over
        # every digest ever built.
        days = [
            {"period": row.period, "frequency": row.frequency, **row.counts}
            for row in DigestCount.objects.order_by("-period", "frequency")[:60]
        ]
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

    def engagement_view(self, request: HttpRequest) -> HttpResponse:
        """Per day: digests sent, opened, clicked; for one day, the same per topic followed,
        and the papers most clicked."""
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        days = engagement_by_day(today=timezone.localdate())
        day: date | None
        try:
            day = date.fromisoformat(request.GET.get("day", ""))
        except ValueError:
            day = date.fromisoformat(days[0].label) if days else None
        context = {
            **self.admin_site.each_context(request),
            "title": "Opens and clicks",
            "days": days,
            "day": day,
            "topics": engagement_by_topic(day=day) if day else [],
            "papers": most_clicked_papers(day=day) if day else [],
        }
        return render(request, "admin/subscriptions/digest_engagement.html", context)

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """A past digest as it was sent: HTML and text, nothing sent."""
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        digest = get_object_or_404(digests_with_content(), pk=pk)
        rendered = render_digest(digest, links=inert_links())  # links that change nothing
        context = {
            **self.admin_site.each_context(request),
            "title": f"Digest {digest.period} of {digest.subscriber.email} ({digest.status})",
            "subscriber": digest.subscriber,
            "day": digest.day,
            "html": rendered.html,
            "text": rendered.text,
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
    list_filter = ["signal"]
    # Ids with a look-up popup: a <select> would list every subscriber and every paper.
    raw_id_fields = ["subscriber", "paper"]
    show_full_result_count = False
    paginator = CappedCountPaginator
