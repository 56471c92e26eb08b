"""What a setting's value may be, said once for the two places that refuse a bad one.

``settings.py`` refuses a bad environment variable at start-up; ``checks.py`` refuses the
same bad value when code or a test sets the setting directly. Nothing here reads the
environment (only ``settings.py`` does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from celery.schedules import ParseException, crontab_parser

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
BOOLEAN_DESCRIPTION = "a boolean (1/0, true/false, yes/no or on/off)"
DAY_OF_WEEK_DESCRIPTION = "a crontab day of week (e.g. 1 for Monday, mon-fri or *)"


@dataclass(frozen=True)
class Bounds:
    """An integer, or any finite number, within optional bounds (``above``: strictly more)."""

    integer: bool
    minimum: int | None = None
    maximum: int | None = None
    above: int | None = None

    @property
    def description(self) -> str:
        """What the value must be, as in "DIGEST_BATCH_SIZE must be <description>"."""
        kind, article = ("integer", "an") if self.integer else ("number", "a")
        if self.maximum is None and (
            self.above == 0 or (self.integer and self.minimum == 1 and self.above is None)
        ):
            return f"a positive {kind}"
        if self.minimum is not None and self.maximum is not None and self.above is None:
            return f"{article} {kind} from {self.minimum} to {self.maximum}"
        limits = [
            f"{sign} {bound}"
            for sign, bound in ((">", self.above), (">=", self.minimum), ("<=", self.maximum))
            if bound is not None
        ]
        return " ".join([article, kind, " and ".join(limits)]).rstrip()

    def admits(self, value: object) -> bool:
        """True when ``value`` (a Python value, not text) is of the kind and within bounds."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if (self.integer and not isinstance(value, int)) or not math.isfinite(value):
            return False
        return (
            (self.minimum is None or value >= self.minimum)
            and (self.maximum is None or value <= self.maximum)
            and (self.above is None or value > self.above)
        )

    def parse(self, text: str) -> int | float | None:
        """The value ``text`` spells, or None when it spells none the bounds admit."""
        try:
            value = int(text) if self.integer else float(text)
        except ValueError:
            return None
        return value if self.admits(value) else None


def is_day_of_week(value: object) -> bool:
    """True when ``value`` is a crontab day-of-week field Celery beat accepts."""
    if not isinstance(value, str):
        return False
    try:
        crontab_parser(7).parse(value)
    except (ParseException, ValueError):
        return False
    return True
