"""Forms for signing up and managing preferences. Rules live in ``interests.py``."""

from __future__ import annotations

from typing import Any

from django import forms

from papers.models import Topic
from subscriptions.addresses import clean_address
from subscriptions.matching.interests import (
    Interests,
    InterestsError,
    clean_interests,
    split_phrases,
    with_seed_papers,
)
from subscriptions.models import Subscriber, Weekday
from subscriptions.timezones import (
    DEFAULT_SEND_HOUR,
    DEFAULT_SEND_WEEKDAY,
    DEFAULT_TIME_ZONE,
    SendTime,
    time_zone_names,
)

# Which form field shows each kind of interests error.
_ERROR_FIELDS = {
    "keywords": "keywords",
    "authors": "authors",
    "excluded": "excluded_keywords",
    "topics": "topics",
    "__all__": None,
}


class AddressField(forms.CharField):
    """An email address as every form takes one: checked and normalised by
    ``subscriptions.addresses.clean_address``, its message shown next to the field."""

    def __init__(self, **kwargs: Any) -> None:
        # Kept raw (no stripping) so a line break anywhere in it can be refused, not trimmed;
        # longer than an address may be, so that one too long is told by how much.
        kwargs.setdefault("label", "Email address")
        kwargs.setdefault("widget", forms.EmailInput(attrs={"autocomplete": "email"}))
        super().__init__(strip=False, max_length=400, **kwargs)

    def clean(self, value: Any) -> str:
        value = super().clean(value)
        return clean_address(value) if value else value


class InterestsForm(forms.Form):
    """Topics, keywords, authors and frequency, checked by ``clean_interests``."""

    topics = forms.ModelMultipleChoiceField(
        queryset=Topic.objects.order_by("name"),
        to_field_name="slug",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "Unknown topic: %(value)s."},
    )
    keywords = forms.CharField(
        required=False,
        max_length=3000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Words or phrases, separated by commas: “model merging, LoRA”.",
    )
    authors = forms.CharField(
        required=False,
        max_length=3000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Authors to follow, separated by commas.",
    )
    liked_papers = forms.CharField(
        label="Papers you liked",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One a line: an arXiv id, an arXiv or Hugging Face link, or a title. Your "
        "first digests bring papers like them.",
    )
    frequency = forms.ChoiceField(
        choices=Subscriber.Frequency.choices,
        initial=Subscriber.Frequency.DAILY,
        widget=forms.RadioSelect,
    )
    # When it comes. Not required: a form posted without them (an old page, a script) gets
    # the defaults. The time zone select works without JavaScript; a few lines of it pre-fill
    # the browser's own zone on the sign-up page (static/send-time.js).
    send_hour = forms.TypedChoiceField(
        label="At",
        choices=[(hour, f"{hour:02d}:00") for hour in range(24)],
        coerce=int,
        empty_value=None,
        required=False,
        initial=DEFAULT_SEND_HOUR,
    )
    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=lambda: [(name, name.replace("_", " ")) for name in time_zone_names()],
        required=False,
        initial=DEFAULT_TIME_ZONE,
    )
    send_weekday = forms.TypedChoiceField(
        label="Day of the week",
        choices=Weekday.choices,
        coerce=int,
        empty_value=None,
        required=False,
        initial=DEFAULT_SEND_WEEKDAY,
    )

    interests: Interests
    # What a field the form was posted without stands for: the defaults, or the reader's own.
    send_time_before = SendTime()

    @property
    def send_time(self) -> SendTime:
        """The send time chosen (``send_time_before`` for fields the form was posted without)."""
        data = self.cleaned_data
        default = self.send_time_before
        return SendTime(
            hour=default.hour if data.get("send_hour") is None else data["send_hour"],
            time_zone=data.get("time_zone") or default.time_zone,
            weekday=data.get("send_weekday") or default.weekday,
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data; only an override may not
        if self.errors:
            return data
        try:
            self.interests = clean_interests(
                topic_slugs=[topic.slug for topic in data.get("topics", [])],
                keywords=split_phrases(data.get("keywords", "")),
                authors=split_phrases(data.get("authors", "")),
                excluded=split_phrases(data.get("excluded_keywords", "")),
            )
        except InterestsError as error:
            for kind, messages in error.errors.items():
                for message in messages:
                    self.add_error(_ERROR_FIELDS.get(kind), message)
            return data
        try:
            self.interests = with_seed_papers(
                self.interests, entries=(data.get("liked_papers") or "").splitlines()
            )
        except InterestsError as error:
            for messages in error.errors.values():
                for message in messages:
                    self.add_error("liked_papers", message)
        return data


class SubscribeForm(InterestsForm):
    """The public sign-up form: an address and interests, plus a honeypot for bots."""

    field_order = [
        "email",
        "topics",
        "keywords",
        "authors",
        "liked_papers",
        "frequency",
        "send_weekday",
        "send_hour",
        "time_zone",
    ]

    email = AddressField(
        widget=forms.EmailInput(attrs={"autocomplete": "email", "placeholder": "you@lab.org"})
    )
    # People never see this field; bots fill every field they find.
    website = forms.CharField(required=False, label="Leave this empty")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            # A fresh page: the script may put the browser's zone in place of the default.
            self.fields["time_zone"].widget.attrs["data-browser-time-zone"] = ""

    @property
    def is_bot(self) -> bool:
        return bool(self.data.get("website"))


class PreferencesForm(InterestsForm):
    """Everything a subscriber can change from the link in their emails."""

    field_order = [
        "topics",
        "keywords",
        "authors",
        "excluded_keywords",
        "liked_papers",
        "frequency",
        "send_weekday",
        "send_hour",
        "time_zone",
    ]

    excluded_keywords = forms.CharField(
        label="Never show me papers mentioning",
        required=False,
        max_length=3000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Words or phrases, separated by commas.",
    )

    @classmethod
    def for_subscriber(cls, subscriber: Subscriber, data: Any = None) -> PreferencesForm:
        initial = {
            "topics": list(subscriber.topics.values_list("slug", flat=True)),
            "keywords": ", ".join(subscriber.keywords),
            "authors": ", ".join(subscriber.authors),
            "excluded_keywords": ", ".join(subscriber.excluded_keywords),
            "frequency": subscriber.frequency,
            "send_hour": subscriber.send_hour,
            "time_zone": subscriber.time_zone,
            "send_weekday": subscriber.send_weekday,
        }
        form = cls(data=data, initial=initial)
        form.send_time_before = SendTime(
            hour=subscriber.send_hour,
            time_zone=subscriber.time_zone,
            weekday=subscriber.send_weekday,
        )
        return form


class PreviewForm(InterestsForm):
    """The interests of the sign-up or preferences form, for a preview of their digest."""

    excluded_keywords = forms.CharField(required=False, max_length=3000)
    frequency = forms.ChoiceField(choices=Subscriber.Frequency.choices, required=False)


class ResendForm(forms.Form):
    email = AddressField()
