"""``manage.py local_admin``: an admin login for local development, printed; refused otherwise."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create (once) and print a local admin login. Only with DEBUG on: never in production."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("local_admin only runs with DEBUG on (local development).")
        saved = Path(settings.VAR_DIR) / "local-admin-password.txt"
        User = get_user_model()
        user = User.objects.filter(username="admin").first()
        if user is None or not saved.exists():
            password = secrets.token_urlsafe(12)
            saved.write_text(password)
            user = user or User(username="admin", email="admin@localhost")
            user.is_staff = user.is_superuser = True
            user.set_password(password)
            user.save()
        self.stdout.write(
            f"Admin: http://127.0.0.1:8000/admin/  user: admin  password: {saved.read_text()}"
        )
