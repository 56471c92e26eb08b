from email import message_from_bytes, policy

from django.core.mail import EmailMultiAlternatives

from digest_site.mail import EmlFileBackend


def test_each_message_becomes_an_eml_file_a_mail_client_can_open(tmp_path, settings):
    settings.EMAIL_FILE_PATH = str(tmp_path / "outbox")
    email = EmailMultiAlternatives("Hello", "Text part", "from@example.org", ["to@example.org"])
    email.attach_alternative("<p>HTML part</p>", "text/html")
    assert EmlFileBackend().send_messages([email, email]) == 2

    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    parsed = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert parsed["To"] == "to@example.org"
    assert parsed.get_body(("plain",)).get_content().strip() == "Text part"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>HTML part</p>"
