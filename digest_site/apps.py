from django.apps import AppConfig


class DigestSiteConfig(AppConfig):
    name = "digest_site"
    verbose_name = "Paper Digest site"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the checks
