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
