"""Admin for papers and topics: curation (pin, hide, tag by hand), ingests on demand."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models import Count, Q, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from .models import DayNote, IngestRun, Paper, PaperTopic, Topic, UpvoteObservation
from .selectors import with_growth, with_shown_tags
from .sources import source_choices
from .tasks import ingest_source, retag_papers, retag_selected_papers


class PaperTopicInline(admin.TabularInline):
    model = PaperTopic
    extra = 1
    autocomplete_fields = ["topic"]
    fields = ["topic", "score", "origin"]
    readonly_fields = ["score"]
    verbose_name = "topic tag"
    verbose_name_plural = (
        "topic tags (a tag added or removed by hand is kept by every later ingest; "
        "deleting an automatic tag marks it removed)"
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[PaperTopic]:
        return super().get_queryset(request).select_related("topic")


class UpvoteObservationInline(admin.TabularInline):
    model = UpvoteObservation
    extra = 0
    can_delete = False
    fields = ("observed_at", "upvotes")
    readonly_fields = fields
    ordering = ["-observed_at"]
    verbose_name_plural = "upvote history"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Paper)
class PaperAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "featured_on",
        "upvotes",
        "growth",
        "topic_names",
        "source_names",
        "pinned",
        "hidden",
    ]
    list_filter = ["pinned", "hidden", "featured_on", "sources__source", "topics"]
    search_fields = ["title", "abstract", "arxiv_id", "authors"]
    date_hierarchy = "featured_on"
    readonly_fields = ["title_key", "upvote_chart", "created_at", "updated_at"]
    inlines = [PaperTopicInline, UpvoteObservationInline]
    actions = ["pin", "unpin", "hide", "unhide", "retag"]
    # A link typed without a scheme is https (Django 6's default, chosen now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_per_page = 50
    # One COUNT(*) a page, not two (the second would count the whole table again).
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Paper]:
        # Everything the list shows comes from three queries, however many rows a page has.
        return with_shown_tags(with_growth(super().get_queryset(request))).prefetch_related(
            "sources"
        )

    @admin.display(description="growth (24 h)", ordering="growth")
    def growth(self, paper: Paper) -> str:
        value = getattr(paper, "growth", 0) or 0
        return f"+{value}" if value > 0 else str(value)

    @admin.display(description="topics")
    def topic_names(self, paper: Paper) -> str:
        return ", ".join(tag.topic.name for tag in getattr(paper, "shown_tags", []))

    @admin.display(description="sources")
    def source_names(self, paper: Paper) -> str:
        return ", ".join(source.source for source in paper.sources.all())

    @admin.display(description="upvotes over time")
    def upvote_chart(self, paper: Paper) -> str:
        points = list(
            paper.upvote_history.order_by("observed_at").values_list("upvotes", flat=True)
        )
        if len(points) < 2:
            return f"{len(points)} observation{'s' if len(points) != 1 else ''} so far"
        width, height, top = 240, 48, max(points) or 1
        step = width / (len(points) - 1)
        coordinates = " ".join(
            f"{index * step:.1f},{height - value * height / top:.1f}"
            for index, value in enumerate(points)
        )
        return format_html(
            '<svg width="{}" height="{}" role="img" aria-label="{}">'
            '<polyline fill="none" stroke="currentColor" stroke-width="2" points="{}"/></svg>',
            width,
            height + 2,
            f"upvotes from {points[0]} to {points[-1]}",
            coordinates,
        )

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool
    ) -> None:
        if formset.model is not PaperTopic:
            super().save_formset(request, form, formset, change)
            return
        tags = formset.save(commit=False)
        for tag in tags:
            # Whatever an editor touches becomes theirs: tagging never overrides it.
            if tag.origin == PaperTopic.Origin.AUTO:
                tag.origin = PaperTopic.Origin.ADDED
            tag.save()
        for tag in formset.deleted_objects:
            # Keep the row as "removed" so the next ingest does not tag it again.
            tag.origin = PaperTopic.Origin.REMOVED
            tag.save()

    def _flag(self, request: HttpRequest, queryset: QuerySet[Paper], **flags: bool) -> int:
        papers = list(queryset)
        Paper.objects.filter(pk__in=[p.pk for p in papers]).update(**flags)
        change = ", ".join(f"{name}={value}" for name, value in flags.items())
        for paper in papers:
            self.log_change(request, paper, f"Set {change} (bulk action).")
        return len(papers)

    @admin.action(description="Pin selected papers")
    def pin(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        self.message_user(request, f"Pinned {self._flag(request, queryset, pinned=True)} papers.")

    @admin.action(description="Unpin selected papers")
    def unpin(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        self.message_user(
            request, f"Unpinned {self._flag(request, queryset, pinned=False)} papers."
        )

    @admin.action(description="Hide selected papers")
    def hide(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        self.message_user(request, f"Hid {self._flag(request, queryset, hidden=True)} papers.")

    @admin.action(description="Unhide selected papers")
    def unhide(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        self.message_user(request, f"Unhid {self._flag(request, queryset, hidden=False)} papers.")

    @admin.action(description="Re-tag topics of selected papers")
    def retag(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        transaction.on_commit(lambda: retag_selected_papers.delay(ids))
        self.message_user(request, f"Re-tagging {len(ids)} papers in the background.")


@admin.register(DayNote)
class DayNoteAdmin(admin.ModelAdmin):
    """The editors' note of a day: shown at the top of that day's digests (those sent after
    it was written) and on the day's page."""

    list_display = ["day", "text", "updated_at"]
    date_hierarchy = "day"


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "paper_count"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Topic]:
        tagged = Count("paper_tags", filter=~Q(paper_tags__origin=PaperTopic.Origin.REMOVED))
        return super().get_queryset(request).annotate(paper_count=tagged)

    @admin.display(description="papers", ordering="paper_count")
    def paper_count(self, topic: Topic) -> int:
        return topic.paper_count  # type: ignore[attr-defined]

    def save_model(self, request: HttpRequest, obj: Topic, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change or {"name", "keywords"} & set(form.changed_data):
            transaction.on_commit(retag_papers.delay)
            messages.info(request, "Papers are being re-tagged in the background.")


class IngestNowForm(forms.Form):
    source = forms.ChoiceField(choices=source_choices)
    date = forms.DateField(required=False, help_text="YYYY-MM-DD; empty: today / latest.")
    categories = forms.CharField(
        required=False, help_text="arXiv categories, comma-separated (default: the setting)."
    )


@admin.register(IngestRun)
class IngestRunAdmin(admin.ModelAdmin):
    list_display = [
        "started_at",
        "location",
        "format",
        "status",
        "created",
        "updated",
        "unchanged",
        "skipped_count",
    ]
    list_filter = ["status", "format"]
    # Said outright: inferred from the base class, the items could be field groups, which
    # readonly_fields does not take.
    fields: ClassVar[tuple[str, ...]] = (
        *(f.name for f in IngestRun._meta.fields if f.name != "skipped"),
        "skipped_entries",
    )
    readonly_fields = fields
    change_list_template = "admin/papers/ingestrun/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="skipped")
    def skipped_count(self, run: IngestRun) -> int:
        return len(run.skipped)

    @admin.display(description="skipped entries")
    def skipped_entries(self, run: IngestRun) -> str:
        if not run.skipped:
            return "none"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>entry {}: {} <em>{}</em></li>",
                ((s["position"], s["reason"], s["excerpt"]) for s in run.skipped),
            ),
        )

    def get_urls(self) -> list[Any]:
        ingest_now = self.admin_site.admin_view(self.ingest_now_view)
        return [path("ingest-now/", ingest_now, name="papers_ingest_now"), *super().get_urls()]

    def ingest_now_view(self, request: HttpRequest) -> HttpResponse:
        """Queue an ingest of a source for a day; its run (and result) appears in the list."""
        if not request.user.has_perm("papers.add_paper"):
            return HttpResponse(status=403)
        form = IngestNowForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            day = form.cleaned_data["date"]
            categories = [
                c.strip() for c in form.cleaned_data["categories"].split(",") if c.strip()
            ]
            kwargs = {
                "source": form.cleaned_data["source"],
                "date": day.isoformat() if day else None,
                "categories": categories or None,
            }
            transaction.on_commit(lambda: ingest_source.apply_async(kwargs=kwargs))
            self.message_user(
                request, "Ingest queued: its result appears in this list when it is done."
            )
            return HttpResponseRedirect(reverse("admin:papers_ingestrun_changelist"))
        context = {**self.admin_site.each_context(request), "form": form, "title": "Ingest now"}
        return render(request, "admin/papers/ingest_now.html", context)
