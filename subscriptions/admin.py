from django.contrib import admin

from .models import Subscriber


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["email", "status", "frequency", "created_at"]
    list_filter = ["status", "frequency", "topics"]
    search_fields = ["email"]
    filter_horizontal = ["topics"]
