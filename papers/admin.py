"""Admin for papers and topics: curation (pin, hide, tag by hand) and ingest history."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest

from .models import IngestRun, Paper, PaperTopic, Topic, UpvoteObservation
from .tasks import retag_papers


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


class UpvoteObservationInline(admin.TabularInline):
    model = UpvoteObservation
    extra = 0
    can_delete = False
    fields = ["observed_at", "upvotes"]
    readonly_fields = fields
    ordering = ["-observed_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Paper)
class PaperAdmin(admin.ModelAdmin):
    list_display = ["title", "featured_on", "upvotes", "arxiv_id", "pinned", "hidden"]
    list_filter = ["pinned", "hidden", "featured_on", "sources__source", "topics"]
    search_fields = ["title", "abstract", "arxiv_id", "authors"]
    date_hierarchy = "featured_on"
    readonly_fields = ["title_key", "created_at", "updated_at"]
    inlines = [PaperTopicInline, UpvoteObservationInline]
    actions = ["pin", "unpin", "hide", "unhide"]
    # A link typed without a scheme is https (Django 6's default, chosen now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

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

    @admin.action(description="Pin selected papers")
    def pin(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        self.message_user(request, f"Pinned {queryset.update(pinned=True)} papers.")

    @admin.action(description="Unpin selected papers")
    def unpin(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        self.message_user(request, f"Unpinned {queryset.update(pinned=False)} papers.")

    @admin.action(description="Hide selected papers")
    def hide(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        self.message_user(request, f"Hid {queryset.update(hidden=True)} papers.")

    @admin.action(description="Unhide selected papers")
    def unhide(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        self.message_user(request, f"Unhid {queryset.update(hidden=False)} papers.")


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}

    def save_model(self, request: HttpRequest, obj: Topic, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change or {"name", "keywords"} & set(form.changed_data):
            transaction.on_commit(retag_papers.delay)
            messages.info(request, "Papers are being re-tagged in the background.")


@admin.register(IngestRun)
class IngestRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "location", "format", "status", "created", "updated", "unchanged"]
    list_filter = ["status", "format"]
    readonly_fields = [field.name for field in IngestRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
