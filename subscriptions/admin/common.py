"""What the subscription admin pages share: the confirmation page of an action, CSV cells
that are safe to open in a spreadsheet."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

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
