from papers.sources.records import normalise_arxiv_id


def test_it_strips_versions():
    assert normalise_arxiv_id("http://arxiv.org/abs/2202.12139v1") == "2202.12139"
