"""What the subscription admin pages share: the confirmation page of an action."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def action_confirmed(request: HttpRequest) -> bool:
    return request.POST.get("confirmed") == "yes"


def confirmation_page(
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
