"""RSS and Atom feeds: what a listing says reaches a feed reader as text, never as markup."""

from html.parser import HTMLParser
from xml.etree import ElementTree

import pytest

from tests.factories import make_paper, make_topic, tag

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"

# What an author can put in a title, an abstract or a name: tags with handlers, a javascript:
# frame, markup already escaped once (a reader that decodes it must still get text), a CDATA
# end that would close a section, and a stray ampersand.
ABSTRACT = (
    'We beat the baseline. <img src=x onerror="alert(1)"> '
    '<iframe src="javascript:alert(2)"></iframe> '
    "&lt;script&gt;alert(3)&lt;/script&gt; &#60;svg onload=alert(4)&#62; "
    "]]><script>alert(5)</script> Q&A"
)
TITLE = 'Attention <b onmouseover="alert(6)">is</b> &lt;img src=x onerror=alert(7)&gt; all'
AUTHOR = 'Eve <img src=x onerror="alert(8)">'


class _Markup(HTMLParser):
    """What an HTML parser builds from a string: the elements and attributes it would make."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)

    def unknown_decl(self, data):
        self.elements.append(("<!" + data, []))


def rendered_as_html(value):
    """(elements, text) a feed reader gets by rendering ``value`` as HTML."""
    parser = _Markup()
    parser.feed(value or "")
    parser.close()
    return parser.elements, "".join(parser.text)


@pytest.fixture
def topic():
    topic = make_topic(slug="attention")
    paper = make_paper(title=TITLE, abstract=ABSTRACT, authors=[AUTHOR])
    tag(paper, topic)
    return topic


def test_an_rss_reader_renders_no_element_from_a_listing(client, topic):
    response = client.get("/topics/attention/rss/")
    assert response.status_code == 200
    (item,) = ElementTree.fromstring(response.content).iter("item")

    # RSS readers render the description, and many the title, as HTML.
    for name in ("title", "description", DC_CREATOR):
        elements, _ = rendered_as_html(item.findtext(name))
        assert elements == [], (name, elements)
    # ...and the reader sees the characters the listing had.
    assert rendered_as_html(item.findtext("description"))[1] == ABSTRACT
    assert rendered_as_html(item.findtext("title"))[1] == TITLE


def test_an_atom_reader_gets_text_from_a_listing(client, topic):
    response = client.get("/topics/attention/atom/")
    assert response.status_code == 200
    (entry,) = ElementTree.fromstring(response.content).iter(f"{ATOM}entry")

    for element in (
        entry.find(f"{ATOM}title"),
        entry.find(f"{ATOM}summary"),
        entry.find(f"{ATOM}author/{ATOM}name"),
    ):
        # Atom says how to read a text construct; no type means text (RFC 4287, 3.1.1).
        kind = element.get("type", "text")
        if kind in ("html", "xhtml"):
            elements, _ = rendered_as_html(element.text)
            assert elements == [], (element.tag, elements)
        else:
            assert kind == "text", element.tag
    assert entry.find(f"{ATOM}summary").get("type") == "text"
    assert entry.findtext(f"{ATOM}summary") == ABSTRACT
    assert entry.findtext(f"{ATOM}title") == TITLE
