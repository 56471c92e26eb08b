import pytest
from hypothesis import given
from hypothesis import strategies as st

from papers.text import content_tokens, paper_tokens, stored_terms, tokens
from tests.factories import make_paper


def test_accents_and_case_do_not_matter():
    expected = ["cafe", "merg", "merg"]
    assert tokens("Café MERGING, merged") == tokens("cafe merging merged") == expected


@given(st.text(st.characters(max_codepoint=127)))
def test_plain_ascii_text_is_tokenised_as_any_other(text):
    # An accented word sends the text through Unicode decomposition; ASCII skips it.
    assert tokens(f"{text} é") == [*tokens(text), "e"]


def test_stems_come_from_the_c_stemmer_and_match_the_python_algorithm():
    """PyStemmer (C) makes a cold stem 40x cheaper; it must stem as snowballstemmer's own
    Python English stemmer does, or stored analyses and tagging would disagree."""
    from pathlib import Path

    import Stemmer
    from snowballstemmer.english_stemmer import EnglishStemmer

    from papers import text

    assert isinstance(text._stemmer, Stemmer.Stemmer)
    seed = Path(__file__).parents[1] / "fixtures" / "hf-daily-papers-2025-11-06.txt"
    words = sorted(set(text._WORD.findall(seed.read_text().lower())))
    assert len(words) > 1000
    python = EnglishStemmer()
    assert [text._stemmer.stemWord(w) for w in words] == [python.stemWord(w) for w in words]


TEXT = st.text(st.sampled_from("ab é-\n^9The of merging"), max_size=60)


@given(TEXT, TEXT)
def test_a_stored_analysis_reads_back_as_the_text_analysed_now(title, abstract):
    analysed = (content_tokens(title), content_tokens(abstract))
    assert paper_tokens(title, abstract, stored_terms(title, abstract)) == analysed


def test_a_stored_analysis_is_read_only_for_its_own_text_and_analysis():
    title, abstract = "Model merging", "We merge LoRA adapters."
    key = stored_terms(title, abstract).partition("\n")[0]
    # Read as stored, not made again:
    assert paper_tokens(title, abstract, f"{key}\nx\ny z") == (["x"], ["y", "z"])
    fresh = (content_tokens("Model pruning"), content_tokens(abstract))
    assert paper_tokens("Model pruning", abstract, f"{key}\nx\ny z") == fresh  # edited since
    analysis, _, text = key.partition(":")
    other_analysis = f"{'0' * len(analysis)}:{text}\nx\ny z"
    assert paper_tokens(title, abstract, other_analysis)[0] == content_tokens(title)
    assert paper_tokens(title, abstract, "")[0] == content_tokens(title)  # never stored


@pytest.mark.django_db
def test_saving_a_paper_keeps_its_stored_analysis_in_step():
    paper = make_paper(title="Model merging", abstract="We merge.")
    assert paper.terms == stored_terms("Model merging", "We merge.")
    paper.title = "Model pruning"
    paper.save(update_fields=["title"])  # as an edit of the title alone
    paper.refresh_from_db()
    assert paper.terms == stored_terms("Model pruning", "We merge.")
