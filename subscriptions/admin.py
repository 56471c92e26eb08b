"""Admin for subscribers and digests: who gets what, and whether sending works."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import Digest, DigestItem, DigestRun, Feedback, Subscriber


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["email", "status", "frequency", "created_at", "confirmed_at"]
    list_filter = ["status", "frequency", "topics"]
    search_fields = ["email"]
    filter_horizontal = ["topics"]
    readonly_fields = ["created_at", "confirmed_at", "unsubscribed_at"]


class DigestItemInline(admin.TabularInline):
    model = DigestItem
    extra = 0
    can_delete = False
    fields = ["section", "position", "paper", "score", "reasons"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Digest)
class DigestAdmin(admin.ModelAdmin):
    list_display = ["period", "subscriber", "status", "attempts", "sent_at", "error"]
    list_filter = ["status", "frequency", "period"]
    search_fields = ["subscriber__email", "esp_message_id"]
    list_select_related = ["subscriber"]
    readonly_fields = [f.name for f in Digest._meta.fields]
    inlines = [DigestItemInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(DigestRun)
class DigestRunAdmin(admin.ModelAdmin):
    list_display = ["period", "frequency", "started_at", "finished_at", "paused_reason"]
    readonly_fields = ["period", "frequency", "started_at", "finished_at"]
    fields = ["period", "frequency", "started_at", "finished_at", "paused_reason"]


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["subscriber", "paper", "signal", "created_at"]
    list_select_related = ["subscriber", "paper"]
