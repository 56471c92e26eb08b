import json
from collections import Counter
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from papers.embeddings import embed_papers
from papers.ingest import ingest_location
from papers.models import Paper, Topic
from papers.text import content_tokens, ngram_counts
from subscriptions.matching.interests import Interests, InterestsError, clean_interests
from subscriptions.matching.profile import feedback_papers, profile_signals
from subscriptions.matching.ranking import (
    candidate_papers,
    rank_in_batches,
    rank_papers_for,
    topic_profiles,
    vectorise_candidates,
)
from subscriptions.matching.vectorizer import MAX_NGRAM, PhraseVectorizer, _parts
from tests.conftest import FIXTURES
from tests.factories import make_paper

pytestmark = pytest.mark.django_db

LISTING_DAY = date(2025, 11, 6)


def candidates(day=LISTING_DAY):
    return vectorise_candidates(
        papers=candidate_papers(papers=Paper.objects.all()), topics=topic_profiles(), today=day
    )


def rank(limit=10, **interests):
    [picks] = rank_papers_for(
        subscribers=[Interests(**interests)], candidates=candidates(), limit=limit
    )
    titles = dict(Paper.objects.values_list("pk", "title"))
    return [(titles[pick.paper_id], [str(reason) for reason in pick.reasons]) for pick in picks]


def titles(picks):
    return [title for title, _ in picks]


def topic_id(slug):
    return Topic.objects.get(slug=slug).pk


RELEVANCE_CASES = json.loads((FIXTURES / "relevance-dev.json").read_text())["cases"]


@pytest.mark.parametrize("case", RELEVANCE_CASES, ids=[c["interests"] for c in RELEVANCE_CASES])
def test_the_judged_relevant_papers_come_first(seeded, case):
    top = titles(rank(keywords=(case["interests"],), limit=case["k"]))
    found = [title for title in top if title in case["relevant"]]
    assert len(found) >= case["min_relevant_in_top_k"], top


def test_a_topic_brings_its_papers_with_the_topic_as_reason(seeded):
    picks = rank(topic_ids=(topic_id("model-merging"),), limit=5)
    assert len(picks) == 5
    for title, reasons in picks:
        assert "merg" in title.lower() or "fusion" in title.lower()
        assert "topic: Model merging" in reasons


def test_a_keyword_is_named_as_the_reason(seeded):
    [(title, reasons), *_] = rank(keywords=("click-through rate",))
    assert title == "Optimizing Feature Set for Click-Through Rate Prediction"
    assert reasons == ["matches: click-through rate"]


def test_a_paper_matching_part_of_an_interest_ranks_and_says_what_matched():
    interest = "prompt injection attacks on LLM agents and how to defend against them"
    make_paper(title="Indirect prompt injection in retrieval pipelines", abstract="We study it.")
    make_paper(title="Agents that browse the web", abstract="LLM agents that book flights.")
    make_paper(title="Protein folding with diffusion", abstract="Structures of proteins.")
    picks = rank(keywords=(interest,))
    assert titles(picks) == [
        "Indirect prompt injection in retrieval pipelines",
        "Agents that browse the web",
    ]
    assert picks[0][1] == ["matches: prompt injection"]
    assert picks[1][1] == ["matches: LLM agents"]


def test_an_interest_typed_as_one_exact_phrase_no_longer_needs_every_word():
    # "keyword: <the whole sentence>" used to need the sentence in the paper, in order.
    make_paper(title="Conformal prediction for graph neural networks", abstract="Coverage.")
    [(title, reasons)] = rank(
        keywords=("conformal prediction and distribution-free uncertainty quantification",)
    )
    assert title == "Conformal prediction for graph neural networks"
    assert reasons == ["matches: conformal prediction"]


def test_papers_mentioning_an_excluded_keyword_never_appear(seeded):
    merging = topic_id("model-merging")
    assert "MedSAMix" in " ".join(titles(rank(topic_ids=(merging,))))
    picks = titles(rank(topic_ids=(merging,), excluded=("medical image",)))
    assert picks
    assert not any("MedSAMix" in title for title in picks)


def test_hidden_papers_never_appear(seeded):
    Paper.objects.filter(title__startswith="Faceptor").update(hidden=True)
    picks = titles(rank(keywords=("face recognition",)))
    assert picks
    assert not any(title.startswith("Faceptor") for title in picks)


def test_papers_already_sent_are_left_out(seeded):
    faceptor = Paper.objects.get(title__startswith="Faceptor")
    set_ = candidates()
    interests = Interests(subscriber_id=7, keywords=("face recognition",))
    [before] = rank_papers_for(subscribers=[interests], candidates=set_)
    [after] = rank_papers_for(
        subscribers=[interests], candidates=set_, already_sent={7: [faceptor.pk]}
    )
    assert faceptor.pk in [p.paper_id for p in before]
    assert [p.paper_id for p in after] == [p.paper_id for p in before if p.paper_id != faceptor.pk]


def test_pinned_papers_are_boosted_and_said_to_be_picked_by_editors(seeded):
    faces = rank(keywords=("face recognition",))
    # The least relevant of the face papers (papers matching only "face" or "recognition"
    # come after them).
    last = [title for title, _ in faces if "face" in title.lower()][-1]
    assert faces[0][0] != last
    Paper.objects.filter(title=last).update(pinned=True)
    reranked = rank(keywords=("face recognition",))
    assert reranked[0][0] == last
    assert "editors' pick" in reranked[0][1]


def test_popularity_breaks_ties_between_equally_relevant_papers():
    make_paper(title="Graph neural networks for molecules", upvotes=3)
    make_paper(title="Graph neural networks for proteins", upvotes=60)
    picks = rank(keywords=("graph neural networks",))
    assert titles(picks) == [
        "Graph neural networks for proteins",
        "Graph neural networks for molecules",
    ]
    # Never observed: its upvotes are a total, not growth.
    assert "60 upvotes" in picks[0][1]
    assert not any("+" in reason for reason in picks[0][1])


def test_older_papers_lose_popularity():
    make_paper(title="Graph neural networks, fresh", upvotes=40, featured_on=LISTING_DAY)
    make_paper(
        title="Graph neural networks, old",
        upvotes=50,
        featured_on=LISTING_DAY - timedelta(days=14),
    )
    assert titles(rank(keywords=("graph neural networks",)))[0] == "Graph neural networks, fresh"


def test_the_weights_come_from_settings(settings):
    make_paper(
        title="Graph neural networks",
        abstract="Graph neural networks, and what graph neural networks learn.",
        upvotes=0,
    )
    make_paper(
        title="Protein folding and docking",
        abstract="Molecular docking of proteins, folded with graph neural networks.",
        upvotes=50,
    )
    assert titles(rank(keywords=("graph neural networks",)))[0] == "Graph neural networks"
    settings.RANKING = {**settings.RANKING, "RELEVANCE": 0.0, "POPULARITY": 1.0}
    assert titles(rank(keywords=("graph neural networks",)))[0].startswith("Protein folding")


def test_followed_authors_bring_their_papers():
    ingest_location(location=str(FIXTURES / "hf-daily-papers.json"))
    [(title, reasons)] = rank(authors=("hao mark chen",))
    assert title.startswith("FW-Merging")
    assert "author you follow: Hao Mark Chen" in reasons


def test_an_unrelated_paper_is_not_picked_however_popular(seeded):
    Paper.objects.filter(title__startswith="SE-MoE").update(upvotes=5000)
    assert not any(t.startswith("SE-MoE") for t in titles(rank(keywords=("face recognition",))))


def test_batches_rank_each_subscriber_as_if_alone(seeded):
    set_ = candidates()
    people = [
        Interests(subscriber_id=1, keywords=("face recognition",)),
        Interests(subscriber_id=2, topic_ids=(topic_id("segmentation"),), excluded=("medical",)),
        Interests(
            subscriber_id=3,
            keywords=("diffusion", "LoRA"),
            topic_ids=(topic_id("3d-point-clouds"),),
        ),
    ]
    alone = [rank_papers_for(subscribers=[p], candidates=set_)[0] for p in people]
    together = [
        picks for _, picks in rank_in_batches(subscribers=people, candidates=set_, batch_size=2)
    ]
    assert together == alone
    assert all(alone)


def test_candidates_are_read_in_two_queries(seeded, django_assert_num_queries):
    with django_assert_num_queries(2):
        papers = candidate_papers(papers=Paper.objects.all())
    assert len(papers) == 82


def test_no_candidates_means_no_picks():
    empty = vectorise_candidates(papers=[], topics=topic_profiles(), today=LISTING_DAY)
    assert rank_papers_for(subscribers=[Interests(keywords=("x",))], candidates=empty) == [[]]


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({}, "__all__", "at least one topic, keyword or author"),
        ({"keywords": ["x" * 301]}, "keywords", "too long"),
        ({"keywords": [f"word{i}" for i in range(21)]}, "keywords", "At most 20"),
        ({"keywords": ["the of and"]}, "keywords", "no word to match"),
        ({"topic_slugs": ["no-such-topic"]}, "topics", "Unknown topic: no-such-topic"),
    ],
)
def test_bad_interests_get_a_clear_message(kwargs, field, message):
    with pytest.raises(InterestsError) as raised:
        clean_interests(**kwargs)
    assert message in " ".join(raised.value.errors[field])


def test_interests_are_trimmed_and_deduplicated():
    interests = clean_interests(
        keywords=["  LoRA ", "lora", "model   merging"], topic_slugs=["segmentation"]
    )
    assert interests.keywords == ("LoRA", "model merging")
    assert interests.topic_ids == (topic_id("segmentation"),)


def _analyse(document):
    """A document's features written out as text, each as often as it counts: what
    ``PhraseVectorizer`` counts as numbers, and the analyzer scikit-learn is given here."""
    features = []
    for words, repeat in _parts(document):
        grams = list(words)
        for n in range(2, MAX_NGRAM + 1):
            grams += map(" ".join, zip(*(words[start:] for start in range(n)), strict=False))
        features.extend(grams * repeat)
    return features


@given(
    st.lists(
        st.sampled_from(["model", "merging", "face", "recognition", "of", "Über"]), max_size=30
    ),
    st.integers(min_value=1, max_value=3),
)
def test_a_documents_features_are_its_ngrams_each_as_often_as_it_occurs(words, repeat):
    text = " ".join(words)
    grams = ngram_counts(content_tokens(text), max_n=MAX_NGRAM)
    expected = Counter({" ".join(gram): count * repeat for gram, count in grams.items()})
    assert Counter(_analyse(((text, repeat),))) == expected


WORDS = ["model", "merging", "face", "recognition", "of", "Über", "LoRA", "the", "diffusion"]
DOCUMENT = st.lists(st.sampled_from(WORDS), max_size=25).map(" ".join)


@given(
    st.lists(st.tuples(DOCUMENT, DOCUMENT), min_size=1, max_size=8),
    st.lists(DOCUMENT | st.text(max_size=20), min_size=1, max_size=4),
)
def test_phrase_vectors_are_scikit_learns_tfidf_vectors(papers, queries):
    documents = [((title, 2), (abstract, 1)) for title, abstract in papers]
    ours = PhraseVectorizer()
    theirs = TfidfVectorizer(analyzer=_analyse, sublinear_tf=True, dtype=np.float32)
    try:
        expected = theirs.fit_transform(documents)
    except ValueError:  # no feature at all: an empty vocabulary is refused, by both
        with pytest.raises(ValueError):
            ours.fit_transform(documents)
        return
    fitted = ours.fit_transform(documents)
    # The same features, numbered in another order.
    assert ours.vocabulary_.keys() == theirs.vocabulary_.keys()
    order = [ours.vocabulary_[feature] for feature in sorted(theirs.vocabulary_)]
    assert np.allclose(fitted.toarray()[:, order], expected.toarray(), atol=1e-6)
    transformed = ours.transform(queries).toarray()[:, order]
    assert np.allclose(transformed, theirs.transform(queries).toarray(), atol=1e-6)
    # A feature's column is found from its words; a run of words no document has, is not.
    assert all(ours.column(f.split(" ")) == ours.vocabulary_[f] for f in theirs.vocabulary_)
    assert ours.column(["zzz"]) is None
    assert ours.column([]) is None


@pytest.mark.django_db
def test_candidates_are_vectorised_from_each_papers_stored_analysis():
    paper = make_paper(title="Model merging", abstract="We merge adapters.")
    key = paper.terms.partition("\n")[0]  # names this text: the rest is read as stored
    Paper.objects.filter(pk=paper.pk).update(terms=f"{key}\nstoredword\nother")
    candidates = candidate_papers(papers=Paper.objects.all())
    vectorised = vectorise_candidates(papers=candidates, topics=[], today=date(2025, 11, 6))
    assert vectorised.vectorizer.column(["storedword"]) is not None
    assert vectorised.vectorizer.column(content_tokens("merging")) is None


def embedded(*papers):
    embed_papers(paper_ids=[paper.pk for paper in papers])
    return papers


def test_a_paper_in_other_words_is_found_by_meaning_and_said_to_be_related():
    embedded(
        make_paper(
            title="Deep generative nowcasting of precipitation from radar",
            abstract="Short-range forecasts of convective precipitation with a neural network.",
        ),
        make_paper(title="Protein structure prediction", abstract="Diffusion over residues."),
        make_paper(title="Code review with language models", abstract="Comments on diffs."),
    )
    interest = "predicting rain and storms with neural nets"
    picks = rank(keywords=(interest,))
    assert titles(picks)[0] == "Deep generative nowcasting of precipitation from radar"
    assert picks[0][1] == [f"related to: {interest}"]


def test_exclusions_still_win_over_similarity():
    embedded(
        make_paper(
            title="Expressive zero-shot singing voice synthesis",
            abstract="A text-to-speech model that also sings, with controllable expressive style.",
        ),
        make_paper(
            title="Zero-shot expressive text-to-speech",
            abstract="Controllable voice synthesis from a short prompt.",
        ),
    )
    interest = "text-to-speech: expressive, controllable and zero-shot voice synthesis"
    assert len(rank(keywords=(interest,))) == 2
    picks = rank(keywords=(interest,), excluded=("singing",))
    assert titles(picks) == ["Zero-shot expressive text-to-speech"]


def test_without_the_model_ranking_is_lexical_and_still_ranks(settings):
    settings.EMBEDDINGS = {**settings.EMBEDDINGS, "ENABLED": False}
    embedded(make_paper(title="Machine unlearning for LLMs", abstract="Forgetting data."))
    make_paper(title="Catastrophic forgetting in continual learning", abstract="Old tasks.")
    picks = rank(keywords=("machine unlearning",))
    assert titles(picks) == ["Machine unlearning for LLMs"]
    assert picks[0][1] == ["matches: machine unlearning"]


def test_more_like_this_moves_papers_like_it_up_and_less_like_this_down():
    liked, similar, other, disliked_one, near_disliked = embedded(
        make_paper(title="Speculative decoding with a small draft model", abstract="Learning."),
        make_paper(
            title="Faster LLM inference by drafting and verifying tokens", abstract="Learning."
        ),
        make_paper(
            title="Graph neural networks for molecule property prediction", abstract="Learning."
        ),
        make_paper(title="Reinforcement learning for robot grasping", abstract="Learning."),
        make_paper(
            title="Robot manipulation policies learned from demonstrations", abstract="Learning."
        ),
    )
    [before] = rank_papers_for(
        subscribers=[Interests(keywords=("learning",))], candidates=candidates(), limit=5
    )
    reader = Interests(keywords=("learning",), liked=(liked.pk,), disliked=(disliked_one.pk,))
    [after] = rank_papers_for(
        subscribers=[reader],
        candidates=candidates(),
        limit=5,
        feedback=feedback_papers(interests=[reader]),
    )
    order_before = [p.paper_id for p in before]
    order_after = [p.paper_id for p in after]

    def place(order, paper):  # a paper pushed out of the picks is last
        return order.index(paper.pk) if paper.pk in order else len(order)

    assert place(order_after, similar) < place(order_before, similar)
    assert place(order_after, similar) < place(order_after, other)
    assert place(order_after, near_disliked) > place(order_before, near_disliked)
    assert place(order_after, near_disliked) > place(order_after, other)


def test_the_profile_weighs_each_side_as_one_rocchio_term(settings):
    weights = {
        "MORE_LIKE_THIS": 0.5,
        "LESS_LIKE_THIS": 0.25,
        "SAVED": 0.8,
        "CLICKED": 0.2,
        "PROFILE_SCALE": 1.0,
    }
    reader = Interests(liked=(1, 2), disliked=(3,), positives=((4, 2.0),))
    signals = dict(profile_signals(reader, weights))
    assert signals == pytest.approx({1: 0.5 / 3, 2: 0.5 / 3, 4: 1.0 / 3, 3: -0.25})
    # One click alone pulls mildly (0.2, as CLICKED says); a save more than a like.
    assert profile_signals(Interests(clicked=(5,)), weights) == [(5, pytest.approx(0.2))]
    saved = dict(profile_signals(Interests(saved=(6,), liked=(7,)), weights))
    assert saved[6] > saved[7]
    # Clicked or saved, then "less like this": the reader's last word wins.
    both = dict(profile_signals(Interests(clicked=(8,), saved=(9,), disliked=(8, 9)), weights))
    assert both == pytest.approx({8: -0.125, 9: -0.125})
