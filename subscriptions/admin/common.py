"""What the subscription admin pages share: the confirmation page of an action, CSV cells
that are safe to open in a spreadsheet, and what keeps a page's cost bounded whatever the
size of its table (a capped count, inlines of the newest rows with a link to the rest)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import Any, Protocol
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html


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


# A spreadsheet runs a cell starting with one of these as a formula (=HYPERLINK(...) is a
# live link, and worse exists); a leading tab or CR can hide one. Subscribers type their
# keywords and authors, so an export must never carry such a cell as it is.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: object) -> str:
    """``value`` as text no spreadsheet reads as a formula: one that starts like a formula
    gets a leading ``'`` (which spreadsheets show as text, and hide)."""
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


class _RowWriter(Protocol):
    def writerow(self, row: Iterable[Any], /) -> Any: ...


class SpreadsheetSafeWriter:
    """A ``csv.writer`` whose every cell goes through ``spreadsheet_cell``."""

    def __init__(self, writer: _RowWriter):
        self._writer = writer

    def writerow(self, row: Iterable[object]) -> Any:
        return self._writer.writerow([spreadsheet_cell(cell) for cell in row])


# A changelist counts its rows to number its pages: over a table of millions that count is
# the slowest query of the page. Counting stops here (the list says "10000" for "10,000 or
# more"); filter or search to narrow it.
COUNT_LIMIT = 10_000
# A search matches at most this many subscribers (the start of an address: "a" matches many).
SEARCH_LIMIT = 1000
# An inline on a page shows the newest this many rows and links to the whole filtered list.
INLINE_LIMIT = 20


class CappedCountPaginator(Paginator):
    """Counts at most ``COUNT_LIMIT`` rows: ``SELECT COUNT(*) FROM (... LIMIT n)``."""

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if isinstance(object_list, QuerySet):
            return object_list[:COUNT_LIMIT].count()
        return len(object_list)


class LatestInlineFormSet(BaseInlineFormSet):
    """An inline formset of the first ``INLINE_LIMIT`` rows of its (ordered) queryset."""

    def get_queryset(self) -> QuerySet[Any]:
        if not hasattr(self, "_latest"):
            self._latest = super().get_queryset()[:INLINE_LIMIT]
        return self._latest


def filtered_list_link(model: type[Any], *, text: str, **lookups: object) -> str:
    """A link to the admin list of ``model`` filtered by ``lookups``."""
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, urlencode(lookups), text)
