"""The registry of listing sources and formats: every format is found, read and owned, and
every list of choices (model, command, admin) is the registry's."""

import pytest
from django.core.management import CommandError, call_command

from papers.admin import IngestNowForm
from papers.management.commands.ingest import Command as IngestCommand
from papers.models import IngestRun, PaperSource
from papers.sources import (
    ARXIV,
    FORMATS,
    LISTING_FORMATS,
    LISTING_SOURCES,
    SOURCE_NAMES,
    ListingParseError,
    detect_format,
    format_named,
    parse_listing,
    source_choices,
    source_named,
)
from tests.conftest import FIXTURE_OF_FORMAT, fixture_text

# Modules whose import would make a parser talk to the database or the network.


def test_every_format_has_a_real_fixture():
    # A format added to the registry without a real document to test it on fails here.
    assert set(FIXTURE_OF_FORMAT) == set(FORMATS)


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_is_detected_from_a_real_document(name):
    assert detect_format(fixture_text(FIXTURE_OF_FORMAT[name])) == name


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_reads_its_document_as_that_format(name):
    listing = parse_listing(fixture_text(FIXTURE_OF_FORMAT[name]))
    assert listing.format == name
    assert listing.records


@pytest.mark.parametrize(
    ("name", "expected"),
    [("hf-daily-papers-old.json", "hf-json"), ("arxiv-api-no-results.atom.xml", "arxiv-atom")],
)
def test_other_documents_of_a_format_are_detected_too(name, expected):
    assert detect_format(fixture_text(name)) == expected


@pytest.mark.parametrize("name", ["hf-login-page.html", "http-503-error.html"])
def test_a_page_of_no_format_is_refused_as_an_html_page(name):
    with pytest.raises(ListingParseError, match="HTML page"):
        detect_format(fixture_text(name))


def test_names_are_unique():
    assert len(set(FORMATS)) == len(FORMATS)
    assert len(set(SOURCE_NAMES)) == len(SOURCE_NAMES)


def test_every_format_belongs_to_a_registered_source_and_every_source_has_a_format():
    assert {listing_format.source for listing_format in LISTING_FORMATS} == set(LISTING_SOURCES)


def test_an_unknown_format_or_source_is_refused_with_the_known_names():
    with pytest.raises(ListingParseError, match=r"unknown format 'rss'.*hf-json"):
        format_named("rss")
    with pytest.raises(LookupError, match=r"unknown source 'rss'.*arxiv"):
        source_named("rss")
    with pytest.raises(ListingParseError, match="unknown format 'rss'"):
        parse_listing(fixture_text("hf-daily-papers.json"), format="rss")


def test_the_models_choices_are_the_registrys():
    field = PaperSource._meta.get_field("source")
    assert list(field.choices) == [(source.name, source.label) for source in LISTING_SOURCES]
    assert PaperSource(source=ARXIV.name).get_source_display() == ARXIV.label


def test_every_name_fits_the_column_that_stores_it():
    source_column = PaperSource._meta.get_field("source").max_length
    format_column = IngestRun._meta.get_field("format").max_length
    assert max(len(name) for name in SOURCE_NAMES) <= source_column
    assert max(len(name) for name in FORMATS) <= format_column


def test_the_ingest_commands_choices_are_the_registrys():
    usage = IngestCommand().create_parser("manage.py", "ingest").format_usage()
    assert f"--source {{{','.join(SOURCE_NAMES)}}}" in usage
    assert f"--format {{{','.join(FORMATS)}}}" in usage
    with pytest.raises(CommandError, match="invalid choice: 'rss'"):
        call_command("ingest", "--source", "rss")


def test_the_admins_ingest_form_offers_every_source():
    assert list(IngestNowForm().fields["source"].choices) == source_choices()
