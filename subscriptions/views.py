"""Signing up, confirming, managing preferences and unsubscribing. Views stay thin."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from papers.selectors import visible_paper
from subscriptions.delivery.digests import candidate_set_for
from subscriptions.delivery.links import reader_links
from subscriptions.delivery.render import render_digest
from subscriptions.delivery.retention import items_cutoff
from subscriptions.delivery.selectors import digest_for_view
from subscriptions.email_pages import shows_email_html
from subscriptions.forms import PreferencesForm, PreviewForm, ResendForm, SubscribeForm
from subscriptions.matching.preview import latest_listing_day, preview_picks
from subscriptions.models import Subscriber
from subscriptions.people import preferences
from subscriptions.people.library import remember_reader
from subscriptions.people.privacy import personal_data
from subscriptions.people.ratelimit import preview_allowed, signup_allowed
from subscriptions.people.signup import confirm as confirm_subscription
from subscriptions.people.signup import set_interests, subscribe
from subscriptions.people.tokens import (
    Purpose,
    TokenExpired,
    TokenInvalid,
    Verified,
    preferences_token,
    subscriber_from_confirmation,
    unsubscribe_token,
    verify,
)
from subscriptions.tasks import (
    queue_confirmation,
    queue_preferences_link,
    queue_preferences_link_request,
    queue_resend,
)


def client_ip(request: HttpRequest) -> str:
    """The visitor's address: REMOTE_ADDR, or behind ``TRUSTED_PROXY_COUNT`` proxies the one
    the outermost proxy saw.

    X-Forwarded-For is read from the right, so whatever a client wrote into it itself is
    never taken for its address.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        hops = [hop.strip() for hop in forwarded if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def _too_many(request: HttpRequest) -> HttpResponse:
    return render(request, "subscriptions/too_many.html", status=429)


def _ip_allowed(request: HttpRequest) -> bool:
    return signup_allowed(client_ip=client_ip(request))


@require_http_methods(["GET", "POST"])
def subscribe_view(request: HttpRequest) -> HttpResponse:
    """The sign-up form. Every accepted sign-up ends on the same "check your inbox" page."""
    if request.method == "GET":
        form = SubscribeForm(initial={"email": request.GET.get("email", "")[:254]})
        return render(request, "subscriptions/subscribe.html", {"form": form})
    if request.POST.get("action") == "preview":  # the preview button, without JavaScript
        context = {"form": SubscribeForm(request.POST), **_preview_context(request, request.POST)}
        return render(request, "subscriptions/subscribe.html", context)
    if not _ip_allowed(request):
        return _too_many(request)
    form = SubscribeForm(request.POST)
    if form.is_bot:
        return redirect("subscriptions:check_inbox")
    if not form.is_valid():
        return render(request, "subscriptions/subscribe.html", {"form": form}, status=400)
    signup = subscribe(
        email=form.cleaned_data["email"],
        interests=form.interests,
        frequency=form.cleaned_data["frequency"],
        send_time=form.send_time,
    )
    # Queued whatever the outcome (the task decides what, if anything, to send): the request
    # takes the same time for a new, pending, confirmed or suppressed address.
    queue_confirmation(signup.subscriber_id)
    return redirect("subscriptions:check_inbox")


def _preview_context(request: HttpRequest, data: Any) -> dict[str, Any]:
    """What the interests in ``data`` would have brought in the latest day's digest (or, past
    the visitor's ``PREVIEWS_PER_IP_PER_HOUR``, ``preview_refused``)."""
    if not preview_allowed(client_ip=client_ip(request)):
        return {"preview": None, "preview_refused": True}
    form = PreviewForm(data)
    if not form.is_valid():
        return {"preview": None, "preview_errors": [e for es in form.errors.values() for e in es]}
    day = latest_listing_day(today=timezone.localdate())
    candidates = candidate_set_for(day=day, frequency=Subscriber.Frequency.DAILY)
    picks = preview_picks(
        interests=form.interests, candidates=candidates, limit=5, keep_phrases=False
    )
    return {"preview": picks, "preview_errors": []}


@require_safe
def preview_view(request: HttpRequest) -> HttpResponse:
    """The digest preview beside the interests form, as an HTML fragment (changes nothing)."""
    if not request.GET:
        return render(request, "subscriptions/_preview.html", {"preview": None})
    context = _preview_context(request, request.GET)
    status = 429 if context.get("preview_refused") else 200
    return render(request, "subscriptions/_preview.html", context, status=status)


@require_safe
def check_inbox(request: HttpRequest) -> HttpResponse:
    return render(request, "subscriptions/check_inbox.html")


@require_http_methods(["GET", "POST"])
def confirm_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows one button (mail scanners follow links); POST confirms."""
    try:
        subscriber = subscriber_from_confirmation(token)
    except (TokenExpired, TokenInvalid) as error:
        context = {"expired": isinstance(error, TokenExpired), "form": ResendForm()}
        return render(request, "subscriptions/confirm_failed.html", context, status=400)
    if request.method == "GET":
        confirmed = subscriber.status in (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED)
        return render(
            request,
            "subscriptions/confirm.html",
            {"already": confirmed, "preferences_url": _preferences_url(subscriber)},
        )
    newly = confirm_subscription(subscriber)
    return render(
        request,
        "subscriptions/confirmed.html",
        {"newly": newly, "preferences_url": _preferences_url(subscriber)},
    )


@require_POST
def resend_view(request: HttpRequest) -> HttpResponse:
    """Ask for a new confirmation link. Same answer whether or not the address is known."""
    if not _ip_allowed(request):
        return _too_many(request)
    form = ResendForm(request.POST)
    if not form.is_valid():
        context = {"expired": False, "form": form}
        return render(request, "subscriptions/confirm_failed.html", context, status=400)
    # The task looks the address up: the request does the same for a known or unknown one.
    queue_resend(form.cleaned_data["email"])
    return redirect("subscriptions:check_inbox")


def _preferences_url(subscriber: Subscriber, *, issued_at: int | None = None) -> str:
    return reverse(
        "subscriptions:preferences", args=[preferences_token(subscriber, issued_at=issued_at)]
    )


def _verified(token: str, purpose: Purpose) -> Verified | None:
    try:
        return verify(token, purpose)
    except (TokenExpired, TokenInvalid):
        return None


def _bad_link(request: HttpRequest) -> HttpResponse:
    return render(request, "subscriptions/bad_link.html", status=404)


def _preferences_or_new_link(request: HttpRequest, token: str) -> Subscriber | HttpResponse:
    """The subscriber a preferences link is for, or the page offering a new link."""
    try:
        return verify(token, Purpose.PREFERENCES).subscriber
    except (TokenExpired, TokenInvalid) as error:
        expired = isinstance(error, TokenExpired)
        context = {"link": "expired" if expired else "invalid", **_new_link_context()}
        status = 410 if expired else 404
        return render(request, "subscriptions/new_link.html", context, status=status)


def _new_link_context(form: ResendForm | None = None) -> dict[str, object]:
    return {"form": form or ResendForm(), "max_age_days": settings.PREFERENCES_LINK_MAX_AGE_DAYS}


@require_http_methods(["GET", "POST"])
def preferences_view(request: HttpRequest, token: str) -> HttpResponse:
    """Change interests and frequency, pause or resume, or sign out every link, from the
    link in any email."""
    subscriber = _preferences_or_new_link(request, token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    form = PreferencesForm.for_subscriber(subscriber)
    if request.method == "POST":
        action = request.POST.get("action", "save")
        if action == "pause":
            preferences.pause(subscriber)
            messages.success(request, "Paused. You will get no digest until you resume.")
            return redirect(request.path)
        if action == "resume":
            preferences.resume(subscriber)
            messages.success(request, "Resumed. Your next digest comes as usual.")
            return redirect(request.path)
        if action in ("tracking_on", "tracking_off"):
            preferences.set_tracking(subscriber, on=action == "tracking_on")
            messages.success(
                request,
                "Saved. Your next digests count opens and clicks."
                if action == "tracking_on"
                else "Saved. Your next digests link straight to each paper and count nothing.",
            )
            return redirect(request.path)
        if action == "sign_out":
            preferences.sign_out_links(subscriber)
            queue_preferences_link(subscriber.pk)
            return render(request, "subscriptions/signed_out.html", {"subscriber": subscriber})
        form = PreferencesForm.for_subscriber(subscriber, data=request.POST)
        if action == "preview":  # the preview button, without JavaScript
            context = {
                "subscriber": subscriber,
                "form": PreferencesForm.for_subscriber(subscriber, data=request.POST),
                "token": token,
                "unsubscribe_token": unsubscribe_token(subscriber),
                **_preview_context(request, request.POST),
            }
            return render(request, "subscriptions/preferences.html", context)
        if form.is_valid():
            set_interests(
                subscriber,
                interests=form.interests,
                frequency=form.cleaned_data["frequency"],
                send_time=form.send_time,
            )
            messages.success(request, "Saved. Your next digest follows these preferences.")
            return redirect(request.path)
    context = {
        "subscriber": subscriber,
        "form": form,
        "token": token,
        "unsubscribe_token": unsubscribe_token(subscriber),
    }
    return render(
        request, "subscriptions/preferences.html", context, status=400 if form.errors else 200
    )


@require_http_methods(["GET", "POST"])
def new_link_view(request: HttpRequest) -> HttpResponse:
    """ "Email me a new link": the same answer, and the same work, whatever the address."""
    if request.method == "GET":
        return render(request, "subscriptions/new_link.html", _new_link_context())
    if not _ip_allowed(request):
        return _too_many(request)
    form = ResendForm(request.POST)
    if not form.is_valid():
        return render(request, "subscriptions/new_link.html", _new_link_context(form), status=400)
    queue_preferences_link_request(form.cleaned_data["email"])
    return redirect("subscriptions:new_link_sent")


@require_safe
def new_link_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "subscriptions/new_link_sent.html")


@require_http_methods(["GET", "POST"])
def delete_view(request: HttpRequest, token: str) -> HttpResponse:
    """Delete all my data: GET asks, POST deletes the subscriber and their history."""
    subscriber = _preferences_or_new_link(request, token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    if request.method == "GET":
        return render(request, "subscriptions/delete.html", {"subscriber": subscriber})
    preferences.delete_subscriber(subscriber)
    return render(request, "subscriptions/deleted.html")


@require_safe
def my_data_view(request: HttpRequest, token: str) -> HttpResponse:
    """Download my data: everything we hold about the reader, as a JSON file (GDPR access)."""
    subscriber = _preferences_or_new_link(request, token)
    if isinstance(subscriber, HttpResponse):
        return subscriber
    response = JsonResponse(
        personal_data(subscriber=subscriber), json_dumps_params={"indent": 2, "sort_keys": True}
    )
    response["Content-Disposition"] = 'attachment; filename="paper-digest-my-data.json"'
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows one button (a GET never unsubscribes); POST unsubscribes."""
    verified = _verified(token, Purpose.UNSUBSCRIBE)
    if verified is None:
        return _bad_link(request)
    subscriber = verified.subscriber
    if request.method == "GET":
        context = {"subscriber": subscriber, "token": token}
        return render(request, "subscriptions/unsubscribe.html", context)
    preferences.unsubscribe(subscriber)
    return render(request, "subscriptions/unsubscribed.html", {"subscriber": subscriber})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def one_click_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """RFC 8058: a mail client's POST of ``List-Unsubscribe=One-Click`` unsubscribes at once.

    A client that merely opens the List-Unsubscribe address gets the confirmation page.
    """
    if request.method == "GET":
        return unsubscribe_view(request, token)
    if request.POST.get("List-Unsubscribe") != "One-Click":
        return HttpResponseBadRequest("Expected the body List-Unsubscribe=One-Click.")
    verified = _verified(token, Purpose.UNSUBSCRIBE)
    if verified is None:
        return HttpResponse("Unknown or expired link.", status=404, content_type="text/plain")
    preferences.unsubscribe(verified.subscriber)
    return HttpResponse("Unsubscribed.", content_type="text/plain")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def test_link(request: HttpRequest) -> HttpResponse:
    """Where every link of a test send or an editor's preview goes: it changes nothing, so
    a one-click POST from a test email unsubscribes no one."""
    if request.method == "POST":
        return HttpResponse("A test email: nothing changed.", content_type="text/plain")
    return render(request, "subscriptions/test_link.html")


_SIGNALS = {"more": 1, "less": -1}


@require_http_methods(["GET", "POST"])
def feedback_view(request: HttpRequest, token: str) -> HttpResponse:
    """ "More/less like this" from a digest: GET asks (scanners follow links), POST records.

    The link is the reader's feedback token with ``?paper=<id>&signal=more|less``.
    """
    verified = _verified(token, Purpose.FEEDBACK)
    signal = _SIGNALS.get(request.GET.get("signal", ""))
    paper = visible_paper(paper_id=request.GET.get("paper", ""))
    if verified is None or signal is None or paper is None:
        return _bad_link(request)
    remember_reader(request.session, feedback_token=token)
    recorded = request.method == "POST"
    if recorded:
        preferences.record_feedback(verified.subscriber, paper_id=paper.pk, signal=signal)
    context = {
        "paper": paper,
        "more": signal > 0,
        "recorded": recorded,
        # Dated as the feedback link is: a link that never expires hands out no fresh
        # preferences link.
        "preferences_url": _preferences_url(verified.subscriber, issued_at=verified.issued_at),
    }
    return render(request, "subscriptions/feedback.html", context)


@require_safe
@shows_email_html
def view_digest(request: HttpRequest, token: str, digest_id: int) -> HttpResponse:
    """A digest as a web page (the "view in browser" link): the same HTML as the email, its
    links dated as the email's were."""
    verified = _verified(token, Purpose.VIEW)
    if verified is None:
        return _bad_link(request)
    digest = digest_for_view(subscriber=verified.subscriber, digest_id=digest_id)
    if digest is None:
        return _bad_link(request)
    if digest.day < items_cutoff(today=timezone.localdate()) and not digest.items.all():
        # Retention forgot its papers (subscriptions/delivery/retention.py): say so rather
        # than show an empty email. A 410 tells crawlers the page is gone for good.
        context = {"digest": digest, "keep_days": settings.DIGEST_ITEMS_KEEP_DAYS}
        return render(request, "subscriptions/digest_forgotten.html", context, status=410)
    links = reader_links(digest, issued_at=verified.issued_at)
    # The page's own Save links carry this token: the site may offer "Save" with it too.
    remember_reader(request.session, feedback_token=links.feedback_token)
    return HttpResponse(render_digest(digest, links=links).html)
