"""Subscription facts on the papers' admin pages, added from here: papers/ knows no subscriber."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import HttpRequest

from papers.admin import PaperAdmin, TopicAdmin
from papers.models import Paper, Topic
from subscriptions.models import DigestItem, Subscriber


class DigestsOfPaperInline(admin.TabularInline):
    """Which digests included a paper (shown on the paper's page)."""

    model = DigestItem
    fk_name = "paper"
    extra = 0
    can_delete = False
    fields = ("digest", "subscriber", "section", "position", "score")
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
