"""Subscribers: lists, actions (resend, suppress, lift a suppression, export), today's
digest preview."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from subscriptions.addresses import mailbox_of
from subscriptions.admin.common import (
    INLINE_LIMIT,
    CappedCountPaginator,
    LatestInlineFormSet,
    SpreadsheetSafeWriter,
    action_confirmed,
    confirmation_page,
    filtered_list_link,
)
from subscriptions.delivery.content import Content
from subscriptions.delivery.digests import preview_digest
from subscriptions.delivery.links import inert_links
from subscriptions.delivery.render import digest_email, render_digest
from subscriptions.email_pages import shows_email_html
from subscriptions.forms import AddressField
from subscriptions.models import Digest, Feedback, Subscriber
from subscriptions.people.signup import request_confirmation
from subscriptions.people.suppression import FINAL, lift_suppression, suppress
from subscriptions.tasks import queue_confirmation

_EXPORT_CHUNK = 2000


class FeedbackInline(admin.TabularInline):
    model = Feedback
    formset = LatestInlineFormSet
    extra = 0
    fields = ("paper", "signal", "created_at")
    readonly_fields = fields
    can_delete = False
    ordering = ["-created_at", "-id"]
    verbose_name_plural = f"feedback (the latest {INLINE_LIMIT})"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Feedback]:
        return super().get_queryset(request).select_related("paper")


class DigestInline(admin.TabularInline):
    model = Digest
    formset = LatestInlineFormSet
    extra = 0
    fields = ("period", "status", "sent_at", "error", "open_link")
    readonly_fields = fields
    can_delete = False
    show_change_link = True
    ordering = ["-day", "-id"]
    verbose_name_plural = f"digests (the latest {INLINE_LIMIT})"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="preview")
    def open_link(self, digest: Digest) -> str:
        url = reverse("admin:subscriptions_digest_preview", args=[digest.pk])
        return format_html('<a href="{}">view</a>', url)


class SubscriberAdminForm(forms.ModelForm):
    """The admin's subscriber form: the address checked as the sign-up form checks it."""

    email = AddressField()

    class Meta:
        model = Subscriber
        fields = ["email"]  # the admin adds the rest of its fields


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    form = SubscriberAdminForm
    list_display = ["email", "status", "frequency", "topic_names", "created_at", "last_digest"]
    list_filter = ["status", "frequency", "topics"]
    search_fields = ["email"]  # read by get_search_results
    search_help_text = "The start of an address, any case (a whole address finds exactly it)."
    filter_horizontal = ["topics"]
    readonly_fields = [
        "created_at",
        "confirmed_at",
        "unsubscribed_at",
        "soft_bounces",
        "last_soft_bounce_at",
        "preview_link",
        "history_links",
    ]
    inlines = [FeedbackInline, DigestInline]
    actions = ["resend_confirmation", "suppress", "lift_suppression", "export_csv"]
    list_per_page = 100
    show_full_result_count = False
    paginator = CappedCountPaginator

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A subscriber's status changes only through what records why and rotates their
        # links: the reader's own links, the ESP's events, and the actions here (suppress,
        # lift the suppression, which are logged).
        readonly = super().get_readonly_fields(request, obj)
        return [*readonly, "status"] if obj is not None else readonly

    def save_model(self, request: HttpRequest, obj: Subscriber, form: Any, change: bool) -> None:
        obj.mailbox = mailbox_of(obj.email)  # what the sign-up limits count
        super().save_model(request, obj, form, change)

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

    # Not sortable: sorting by it would run its subquery for every subscriber.
    @admin.display(description="last digest")
    def last_digest(self, subscriber: Subscriber) -> date | None:
        return getattr(subscriber, "last_digest_day", None)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Subscriber], search_term: str
    ) -> tuple[QuerySet[Subscriber], bool]:
        """The start of an address, on an index (``with_email_starting``): a ``%x%``
        search would scan every subscriber."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(
            pk__in=Subscriber.objects.with_email_starting(term).values("pk")
        ), False

    @admin.display(description="history")
    def history_links(self, subscriber: Subscriber) -> str:
        if not subscriber.pk:
            return "-"
        return format_html(
            "{} · {}",
            filtered_list_link(Digest, text="all digests", subscriber__id__exact=subscriber.pk),
            filtered_list_link(Feedback, text="all feedback", subscriber__id__exact=subscriber.pk),
        )

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
        if not action_confirmed(request):
            return confirmation_page(
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
                queue_confirmation(subscriber.pk)
                sent += 1
                self.log_change(request, subscriber, "Confirmation email requested again.")
        self.message_user(request, f"{sent} confirmation emails queued.")
        return None

    @admin.action(description="Suppress: never email them again")
    def suppress(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        people = list(queryset.exclude(status=Subscriber.Status.SUPPRESSED))
        suppress(
            Subscriber.objects.filter(pk__in=[p.pk for p in people]),
            status=Subscriber.Status.SUPPRESSED,
        )
        for subscriber in people:
            self.log_change(request, subscriber, "Suppressed.")
        self.message_user(request, f"Suppressed {len(people)} subscribers.")

    @admin.action(description="Lift the suppression: let them sign up again")
    def lift_suppression(
        self, request: HttpRequest, queryset: QuerySet[Subscriber]
    ) -> HttpResponse | None:
        stopped = queryset.filter(status__in=FINAL)
        if not action_confirmed(request):
            return confirmation_page(
                request,
                stopped,
                action="lift_suppression",
                title="Lift the suppression?",
                warning="Each bounced, complained or suppressed subscriber below becomes "
                "unsubscribed: still sent nothing, but a fresh sign-up from their address "
                "gets a confirmation email again. Lift it only when the person asked.",
            )
        people = {subscriber.pk: subscriber for subscriber in stopped}
        lifted = lift_suppression(
            Subscriber.objects.filter(pk__in=people), by=request.user.get_username()
        )
        for pk, was in lifted.items():
            self.log_change(
                request,
                people[pk],
                f"Suppression lifted (was {was}): a fresh sign-up can be confirmed again.",
            )
        self.message_user(request, f"Lifted the suppression of {len(lifted)} subscribers.")
        return None

    @admin.action(description="Export selected as CSV")
    def export_csv(
        self, request: HttpRequest, queryset: QuerySet[Subscriber]
    ) -> StreamingHttpResponse:
        ids = queryset.values("pk")
        response = StreamingHttpResponse(_csv_rows(ids), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="subscribers.csv"'
        return response

    def get_urls(self) -> list[Any]:
        preview = self.admin_site.admin_view(shows_email_html(self.preview_view))
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
            digest_email(digest, Content.of(digest, items), to=address).send()
            self.log_change(request, subscriber, f"Test digest for {day} sent to {address}.")
            self.message_user(request, f"Test digest sent to {address}.")
        # The reader's own links would let an editor act as them: these change nothing.
        rendered = render_digest(digest, Content.of(digest, items), links=inert_links())
        context = {
            **self.admin_site.each_context(request),
            "title": f"Digest of {subscriber.email} for {day}",
            "subscriber": subscriber,
            "day": day,
            "html": rendered.html,
            "text": rendered.text,
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
    address = AddressField(label="Send this digest as a test to")


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(ids: QuerySet[Any]) -> Iterator[str]:
    """CSV lines of the subscribers, read a chunk at a time (streamed: 100,000 rows is fine);
    no cell is a formula a spreadsheet would run."""
    writer = SpreadsheetSafeWriter(csv.writer(_Echo()))
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
