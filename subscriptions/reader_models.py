"""What readers do with a digest: the papers they saved, the digests they opened, the papers
they clicked. Registered with the app by ``subscriptions.models``, which imports them."""

from __future__ import annotations

from django.db import models


class SavedPaper(models.Model):
    """A paper on a reader's reading list ("Save" in a digest or on the site)."""

    subscriber = models.ForeignKey(
        "subscriptions.Subscriber", on_delete=models.CASCADE, related_name="saved_papers"
    )
    paper = models.ForeignKey("papers.Paper", on_delete=models.CASCADE, related_name="+")
    saved_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "paper"], name="saved_paper_once")
        ]

    def __str__(self) -> str:
        return f"saved {self.paper_id}"


class DigestOpen(models.Model):
    """A digest the ESP reported opened (anymail's ``opened`` event); the first report only."""

    digest = models.OneToOneField(
        "subscriptions.Digest", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    opened_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"digest {self.digest_id} opened"


class DigestClick(models.Model):
    """A paper of a digest its reader followed through the digest's redirect; once per paper
    and digest, however often the link is followed."""

    digest = models.ForeignKey(
        "subscriptions.Digest", on_delete=models.CASCADE, related_name="clicks"
    )
    paper = models.ForeignKey("papers.Paper", on_delete=models.CASCADE, related_name="+")
    clicked_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["digest", "paper"], name="digest_click_once")
        ]

    def __str__(self) -> str:
        return f"digest {self.digest_id} clicked {self.paper_id}"
