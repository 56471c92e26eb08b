"""Admin for subscribers and digests: who gets what, and whether sending works.

Actions that send mail or queue work are POSTs with a confirmation page; each change is
written to Django's admin log.
"""

from subscriptions.admin import digests, papers, subscribers

__all__ = ["digests", "papers", "subscribers"]
