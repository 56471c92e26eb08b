"""Reading the environment for ``settings.py``, the only module that imports this one.

A value that does not fit its variable stops the process at start-up, by name, rather than
quietly meaning something else (a mistyped DIGEST_WHEN_EMPTY used to mean "note": a
"nothing new" email to every reader with no match). An empty boolean, number or choice
means its default, as an unset one does. An import contract keeps every other module from
importing this one: the environment is read in one place.
"""

from __future__ import annotations

import os
from typing import NoReturn

from django.core.exceptions import ImproperlyConfigured

from digest_site.values import (
    BOOLEAN_DESCRIPTION,
    DAY_OF_WEEK_DESCRIPTION,
    FALSE_WORDS,
    TRUE_WORDS,
    Bounds,
    is_day_of_week,
)


def _refuse(name: str, expected: str, raw: str) -> NoReturn:
    raise ImproperlyConfigured(f"{name} must be {expected}, got {raw!r}")


def _env_text(name: str) -> str | None:
    """The variable's value without surrounding spaces; None when it is unset or empty."""
    return os.environ.get(name, "").strip() or None


def env_str(name: str, default: str) -> str:
    """The variable's value as it is set (an empty value stays empty); ``default`` if unset."""
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    """1/0, true/false, yes/no or on/off in any case; anything else is refused."""
    raw = _env_text(name)
    if raw is None:
        return default
    if raw.lower() in TRUE_WORDS:
        return True
    if raw.lower() in FALSE_WORDS:
        return False
    _refuse(name, BOOLEAN_DESCRIPTION, raw)


def _env_number(name: str, default: int | float, bounds: Bounds) -> int | float:
    raw = _env_text(name)
    if raw is None:
        return default
    value = bounds.parse(raw)
    if value is None:
        _refuse(name, bounds.description, raw)
    return value


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """An integer within ``minimum`` and ``maximum`` (inclusive); anything else is refused."""
    return int(_env_number(name, default, Bounds(integer=True, minimum=minimum, maximum=maximum)))


def env_float(
    name: str,
    default: float,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    above: int | None = None,
) -> float:
    """A finite number within the bounds (``above``: strictly more); anything else is refused."""
    bounds = Bounds(integer=False, minimum=minimum, maximum=maximum, above=above)
    return float(_env_number(name, default, bounds))


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``, spelt exactly; anything else is refused."""
    raw = _env_text(name)
    if raw is None:
        return default
    if raw not in choices:
        _refuse(name, "one of " + ", ".join(repr(choice) for choice in choices), raw)
    return raw


def env_day_of_week(name: str, default: str) -> str:
    """A crontab day-of-week field (what Celery beat's ``day_of_week`` accepts)."""
    raw = _env_text(name)
    if raw is None:
        return default
    if not is_day_of_week(raw):
        _refuse(name, DAY_OF_WEEK_DESCRIPTION, raw)
    return raw


def env_list(name: str, default: str = "") -> list[str]:
    """The comma-separated items of the variable (``default`` if unset), blanks dropped."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_prefixed(prefix: str) -> dict[str, str]:
    """Every variable whose name starts with ``prefix``, keyed by the rest of its name."""
    return {
        key.removeprefix(prefix): value
        for key, value in os.environ.items()
        if key.startswith(prefix)
    }
