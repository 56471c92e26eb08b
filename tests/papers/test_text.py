from hypothesis import given
from hypothesis import strategies as st

from papers.text import tokens


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
