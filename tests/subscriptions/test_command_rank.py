import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db

FACE_PAPERS = {
    "Unified Negative Pair Generation toward Well-discriminative Feature Space for Face "
    "Recognition",
    "Faceptor: A Generalist Model for Face Perception",
    "FaceXFormer: A Unified Transformer for Facial Analysis",
    "UniF^2ace: Fine-grained Face Understanding and Generation with Unified Multimodal Models",
}


def rank(*args):
    out = StringIO()
    call_command("rank", *args, stdout=out)
    return out.getvalue()


def test_it_puts_the_face_papers_first_with_reasons(seeded):
    rows = json.loads(rank("--interests", "face recognition", "--json"))
    assert {row["title"] for row in rows[:4]} == FACE_PAPERS
    for row in rows[:4]:
        assert set(row) >= {"title", "arxiv_id", "score", "reasons"}
        # The words of the interest that the paper holds ("face recognition", "face").
        assert row["reasons"][0].startswith("matches: face")
    assert [row["score"] for row in rows] == sorted((row["score"] for row in rows), reverse=True)


def test_it_prints_a_readable_list(seeded):
    output = rank("--topic", "model-merging", "--limit", "3")
    assert output.startswith(" 1. ")
    assert output.count("topic: Model merging") == 3


def test_it_says_so_when_nothing_matches(seeded):
    assert "No paper matches" in rank("--interests", "quantum gravity")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Choose at least one topic, keyword or author"),
        (("--interests", "   "), "Choose at least one topic, keyword or author"),
        (("--topic", "astrology"), "Unknown topic: astrology"),
        (("--interests", "x" * 350), "too long"),
        (("--interests", "faces", "--limit", "0"), "--limit"),
        (("--interests", "faces", "--since", "yesterday"), "YYYY-MM-DD"),
    ],
)
def test_it_refuses_bad_interests_with_a_clear_message(args, message):
    with pytest.raises(CommandError, match=message):
        rank(*args)
