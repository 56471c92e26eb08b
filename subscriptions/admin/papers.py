"""Subscription facts on the papers' admin pages, added from here: papers/ knows no subscriber."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import HttpRequest

from papers.admin import PaperAdmin, TopicAdmin
from papers.models import Paper, Topic
from subscriptions.admin.common import INLINE_LIMIT, LatestInlineFormSet, filtered_list_link
from subscriptions.models import Digest, DigestItem, Subscriber


class DigestsOfPaperInline(admin.TabularInline):
    """The latest digests that included a paper (shown on the paper's page): a paper sent
    to 100,000 readers would otherwise make a page of 160 MB."""

    model = DigestItem
    formset = LatestInlineFormSet
    fk_name = "paper"
    extra = 0
    can_delete = False
    fields = ("digest", "subscriber", "section", "position", "score")
    readonly_fields = fields
    ordering = ["-id"]
    verbose_name_plural = (
        f"digests that included this paper (the latest {INLINE_LIMIT}; "
        "all of them: the link under Digests)"
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[DigestItem]:
        return super().get_queryset(request).select_related("digest", "subscriber")


class PaperWithDigestsAdmin(PaperAdmin):
    # Declared here, not in papers/: papers know nothing about subscribers.
    inlines = [*PaperAdmin.inlines, DigestsOfPaperInline]
    readonly_fields = [*PaperAdmin.readonly_fields, "digests_link"]

    @admin.display(description="digests")
    def digests_link(self, paper: Paper) -> str:
        if not paper.pk:
            return "-"
        return filtered_list_link(Digest, text="every digest that included it", paper=paper.pk)


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
