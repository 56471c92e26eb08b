"""``manage.py demo_subscribers``: two confirmed demo subscribers for local use."""

from typing import Any

from django.core.management.base import BaseCommand

from subscriptions.people.demo import ensure_demo_subscribers


class Command(BaseCommand):
    help = "Create two confirmed demo subscribers (local development only; idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        for subscriber in ensure_demo_subscribers():
            self.stdout.write(f"demo subscriber: {subscriber.email}")
