"""What a reader does with the papers of a digest: save them for later (and manage that
list), and follow them through the digest's counting redirect. Views stay thin."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from papers.selectors import visible_paper
from subscriptions.delivery import engagement
from subscriptions.people import library
from subscriptions.people.tokens import Purpose, preferences_token
from subscriptions.views import _bad_link, _preferences_or_new_link, _verified


@require_http_methods(["GET", "POST"])
def save_view(request: HttpRequest, token: str) -> HttpResponse:
    """ "Save" from a digest: GET asks (mail scanners follow links), POST saves, once.

    The link is the reader's feedback token (saving is the strongest "more like this")
    with ``?paper=<id>``.
    """
    verified = _verified(token, Purpose.FEEDBACK)
    paper = visible_paper(paper_id=request.GET.get("paper", ""))
    if verified is None or paper is None:
        return _bad_link(request)
    library.remember_reader(request.session, feedback_token=token)
    saved = request.method == "POST"
    if saved:
        library.save_paper(subscriber=verified.subscriber, paper_id=paper.pk)
    # Dated as the save link is: a link that never expires hands out no fresh one.
    reading_token = preferences_token(verified.subscriber, issued_at=verified.issued_at)
    context = {
        "paper": paper,
        "saved": saved,
        "reading_list_url": reverse("subscriptions:reading_list", args=[reading_token]),
    }
    return render(request, "subscriptions/save.html", context)


@require_http_methods(["GET", "POST"])
def reading_list_view(request: HttpRequest, token: str) -> HttpResponse:
    """The reader's saved papers (from their preferences page), each with "Remove"."""
    subscriber = _preferences_or_new_link(request, token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    if request.method == "POST":
        paper_id = request.POST.get("paper", "")
        if (
            paper_id.isascii()
            and paper_id.isdigit()
            and len(paper_id) <= 18
            and library.remove_saved_paper(subscriber=subscriber, paper_id=int(paper_id))
        ):
            messages.success(request, "Removed from your reading list.")
        return redirect(request.path)
    context = {
        "subscriber": subscriber,
        "token": token,
        "saved": library.reading_list(subscriber=subscriber),
    }
    return render(request, "subscriptions/reading_list.html", context)


@require_safe
def reading_list_export(request: HttpRequest, token: str, kind: str) -> HttpResponse:
    """The reading list as BibTeX (``kind`` "bib") or as a CSV of arXiv ids ("csv")."""
    if kind not in ("bib", "csv"):
        raise Http404
    subscriber = _preferences_or_new_link(request, token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    papers = [entry.paper for entry in library.reading_list(subscriber=subscriber)]
    if kind == "bib":
        body, content_type = library.bibtex_of(papers), "application/x-bibtex; charset=utf-8"
    else:
        body, content_type = library.arxiv_ids_csv(papers), "text/csv; charset=utf-8"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="paper-digest-reading-list.{kind}"'
    return response


@require_safe
def click_view(request: HttpRequest, token: str) -> HttpResponse:
    """A paper's link in a digest: count the click (once per paper and digest) and forward
    at once to the paper's page. The token names a digest and one of its papers; where it
    forwards comes from the paper, never from the link."""
    # A HEAD is a link checker's look, not a reader's click: it forwards, and counts nothing.
    paper_id = engagement.follow_click(token=token, count=request.method == "GET")
    if paper_id is None:
        return _bad_link(request)
    # The visitor is not taken for the reader: paper links get shared (pasted into a chat,
    # forwarded), and this token, kept forever, is no credential (it does not end with "sign
    # out all my links"); remembering them here handed any stranger the reader's Save, then
    # reading list and preferences.
    response = HttpResponseRedirect(reverse("papers:detail", args=[paper_id]))
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"  # the token stays out of the paper page's logs
    return response
