from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .selectors import latest_featured_day, papers_featured_on


def paper_list(request: HttpRequest) -> HttpResponse:
    """The papers of the latest listed day, most upvoted first."""
    day = latest_featured_day()
    papers = list(papers_featured_on(day=day)) if day else []
    return render(request, "papers/paper_list.html", {"day": day, "papers": papers})
