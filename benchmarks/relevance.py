"""Benchmark: how good the ranking is, on judged interests, beside BM25 and TF-IDF baselines.

What it measures
    The relevance development set (``../shared/fixtures/relevance/``: 1,002 real arXiv papers,
    16 interests with graded judgements; read its README) is ingested into a throw-away SQLite
    database through ``papers.ingest.ingest_document`` (the arXiv Atom parser, topic tagging and
    whatever else an ingest does). Every case is then ranked by ``preview_picks``, the code
    ``manage.py rank`` runs, with the interests cleaned by ``clean_interests`` as ``rank``
    cleans them, in two modes:

    - ``whole``: the case's ``interests`` typed as one sentence (one ``--interests``);
    - ``split``: the case's comma-separated ``keywords``, one ``--interests`` each.

    The case's ``exclude`` and ``authors`` go in as ``--exclude`` and ``--author``. Interests
    the command would refuse score 0 (and are counted as refused).

    Baselines, computed in the same run over the same papers (title + abstract):

    - BM25: ``rank_bm25.BM25Okapi`` (k1 1.5, b 0.75), words lower-cased, scikit-learn's
      English stop words dropped, no stemming;
    - TF-IDF: scikit-learn's ``TfidfVectorizer(sublinear_tf=True, stop_words="english")``,
      cosine similarity.

    Both apply the case rules as the judges did: a paper mentioning an excluded word is dropped,
    and a paper by a followed author is ranked above every other (BM25 or TF-IDF orders them).
    In ``split`` mode their query is the keywords joined by spaces.

    Metrics (as the fixture's README defines them): nDCG@10 with gains 2/1/0 and log2 discount,
    P@5 (share of the top 5 with grade >= 1), R@10 (share of the grade-2 papers in the top 10).

How to run (from the repository root)
    .venv/bin/python benchmarks/relevance.py                   # both modes, all cases
    .venv/bin/python benchmarks/relevance.py --mode whole      # one mode
    .venv/bin/python benchmarks/relevance.py --json out.json   # also write every number

    Targets (issue 18): mean nDCG@10 >= 0.93 in both modes, >= BM25 + 0.02 in the same run,
    no case below 0.5. The script prints PASS or FAIL and exits 0, unless ``--strict``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "relevance"
if not DEFAULT_FIXTURES.is_dir():  # a worktree beside the shared folder's parent
    DEFAULT_FIXTURES = Path("/work/shared/fixtures/relevance")

_WORKDIR = tempfile.TemporaryDirectory(prefix="relevance-bench-")
sys.path.insert(0, str(REPO_ROOT))
os.environ["DATABASE_URL"] = f"sqlite:///{_WORKDIR.name}/relevance.sqlite3"
os.environ.pop("REDIS_URL", None)  # tasks in-process, nothing shared with anyone
os.environ.pop("BROKER_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digest_site.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.core.management import call_command  # noqa: E402
from rank_bm25 import BM25Okapi  # noqa: E402
from sklearn.feature_extraction.text import (  # noqa: E402
    ENGLISH_STOP_WORDS,
    TfidfVectorizer,
)

from papers.ingest import ingest_document  # noqa: E402
from papers.models import Paper  # noqa: E402
from subscriptions.matching.interests import (  # noqa: E402
    InterestsError,
    clean_interests,
)
from subscriptions.matching.preview import preview_picks  # noqa: E402

K = 10
MODES = ("whole", "split")
TARGET_NDCG = 0.93
TARGET_OVER_BM25 = 0.02
TARGET_CASE_FLOOR = 0.5


@dataclass(frozen=True)
class Case:
    number: int
    interests: str
    keywords: tuple[str, ...]
    exclude: tuple[str, ...]
    authors: tuple[str, ...]
    grades: dict[str, int]


@dataclass(frozen=True)
class Pool:
    arxiv_ids: list[str]  # per paper, its arXiv id without version
    texts: list[str]  # title + abstract
    authors: list[set[str]]  # lower-cased names
    paper_arxiv: dict[int, str]  # paper pk -> arXiv id


def load_cases(path: Path) -> list[Case]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        Case(
            number=number,
            interests=case["interests"],
            keywords=tuple(case["keywords"]),
            exclude=tuple(case.get("exclude", ())),
            authors=tuple(case.get("authors", ())),
            grades={key: int(grade) for key, grade in case["judgements"].items()},
        )
        for number, case in enumerate(data["cases"], 1)
    ]


def ingest_pool(path: Path) -> Pool:
    call_command("migrate", verbosity=0)
    result = ingest_document(data=path.read_bytes(), location=str(path))
    if result.skipped:
        print(f"warning: {len(result.skipped)} entries skipped by the parser", file=sys.stderr)
    rows = list(Paper.objects.order_by("pk").values_list("pk", "arxiv_id", "title", "abstract"))
    authors = dict(Paper.objects.values_list("pk", "authors"))
    return Pool(
        arxiv_ids=[_bare(arxiv_id) for _, arxiv_id, _, _ in rows],
        texts=[f"{title}\n{abstract}" for _, _, title, abstract in rows],
        authors=[{name.casefold() for name in authors[pk] or ()} for pk, _, _, _ in rows],
        paper_arxiv={pk: _bare(arxiv_id) for pk, arxiv_id, _, _ in rows},
    )


def _bare(arxiv_id: str | None) -> str:
    return re.sub(r"v\d+$", "", arxiv_id or "")


# --- Metrics, as the fixture's README defines them ----------------------------------------


def ndcg_at_10(ranked: Sequence[str], grades: dict[str, int]) -> float:
    dcg = sum(grades.get(p, 0) / math.log2(i + 2) for i, p in enumerate(ranked[:K]))
    ideal = sorted(grades.values(), reverse=True)[:K]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def precision_at_5(ranked: Sequence[str], grades: dict[str, int]) -> float:
    return sum(1 for p in ranked[:5] if grades.get(p, 0) >= 1) / 5


def recall_at_10(ranked: Sequence[str], grades: dict[str, int]) -> float:
    wanted = {p for p, g in grades.items() if g == 2}
    return len(wanted & set(ranked[:K])) / len(wanted) if wanted else 0.0


# --- The systems ------------------------------------------------------------------------


def project_ranking(pool: Pool) -> Callable[[Case, str], list[str] | None]:
    """Rank a case with the project's own code (what ``manage.py rank`` runs)."""

    def rank(case: Case, mode: str) -> list[str] | None:
        typed = [case.interests] if mode == "whole" else list(case.keywords)
        try:
            interests = clean_interests(keywords=typed, authors=case.authors, excluded=case.exclude)
        except InterestsError:
            return None
        picks = preview_picks(interests=interests, limit=K)
        return [pool.paper_arxiv[pick.paper_id] for pick in picks]

    return rank


def _baseline_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in ENGLISH_STOP_WORDS]


def _apply_case_rules(scores: np.ndarray, case: Case, pool: Pool) -> list[str]:
    scores = scores.astype(np.float64).copy()
    followed = {name.casefold() for name in case.authors}
    if followed:
        by_author = np.array([bool(followed & names) for names in pool.authors])
        scores[by_author] += scores.max() + 1.0
    for word in case.exclude:
        pattern = re.compile(rf"\b{re.escape(word.lower())}\b")
        mentions = np.array([bool(pattern.search(text.lower())) for text in pool.texts])
        scores[mentions] = -np.inf
    order = np.argsort(-scores, kind="stable")[:K]
    return [pool.arxiv_ids[i] for i in order if np.isfinite(scores[i])]


def _baseline_query(case: Case, mode: str) -> str:
    return case.interests if mode == "whole" else " ".join(case.keywords)


def bm25_ranking(pool: Pool) -> Callable[[Case, str], list[str]]:
    index = BM25Okapi([_baseline_words(text) for text in pool.texts])

    def rank(case: Case, mode: str) -> list[str]:
        scores = index.get_scores(_baseline_words(_baseline_query(case, mode)))
        return _apply_case_rules(np.asarray(scores), case, pool)

    return rank


def tfidf_ranking(pool: Pool) -> Callable[[Case, str], list[str]]:
    vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english")
    documents = vectorizer.fit_transform(pool.texts)

    def rank(case: Case, mode: str) -> list[str]:
        query = vectorizer.transform([_baseline_query(case, mode)])
        scores = (documents @ query.T).toarray().ravel()
        return _apply_case_rules(scores, case, pool)

    return rank


# --- Running and printing ------------------------------------------------------------------


def score(ranked: list[str] | None, case: Case) -> dict[str, float]:
    ranked = ranked or []
    return {
        "ndcg10": ndcg_at_10(ranked, case.grades),
        "p5": precision_at_5(ranked, case.grades),
        "r10": recall_at_10(ranked, case.grades),
        "returned": float(len(ranked)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both")
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    cases = load_cases(args.fixtures / "dev-judgements.json")
    started = time.perf_counter()
    pool = ingest_pool(args.fixtures / "dev-pool.atom.xml")
    print(f"ingested {len(pool.texts)} papers in {time.perf_counter() - started:.1f} s")
    systems = {
        "project": project_ranking(pool),
        "bm25": bm25_ranking(pool),
        "tfidf": tfidf_ranking(pool),
    }
    modes = MODES if args.mode == "both" else (args.mode,)
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    passed = True
    for mode in modes:
        results[mode] = {name: [] for name in systems}
        refused = 0
        started = time.perf_counter()
        for case in cases:
            for name, rank in systems.items():
                ranked = rank(case, mode)
                if name == "project" and ranked is None:
                    refused += 1
                results[mode][name].append(score(ranked, case))
        seconds = time.perf_counter() - started
        print(f"\n== mode: {mode} ({seconds:.1f} s; refused by clean_interests: {refused})")
        print(
            f"{'#':>2}  {'interest':<44} {'project nDCG P@5 R@10':>22}"
            f"  {'BM25 nDCG P@5 R@10':>19}  {'TF-IDF nDCG P@5 R@10':>20}"
        )
        for index, case in enumerate(cases):
            cells = []
            for name in systems:
                r = results[mode][name][index]
                cells.append(f"{r['ndcg10']:.3f} {r['p5']:.2f} {r['r10']:.2f}")
            label = case.interests if len(case.interests) <= 44 else case.interests[:43] + "…"
            print(f"{case.number:>2}  {label:<44} {cells[0]:>22}  {cells[1]:>19}  {cells[2]:>20}")
        means = {
            name: {m: float(np.mean([r[m] for r in rows])) for m in ("ndcg10", "p5", "r10")}
            for name, rows in results[mode].items()
        }
        cells = [
            f"{means[n]['ndcg10']:.3f} {means[n]['p5']:.2f} {means[n]['r10']:.2f}" for n in systems
        ]
        print(f"{'':>2}  {'mean':<44} {cells[0]:>22}  {cells[1]:>19}  {cells[2]:>20}")
        project, bm25 = means["project"]["ndcg10"], means["bm25"]["ndcg10"]
        worst = min(r["ndcg10"] for r in results[mode]["project"])
        ok = project >= TARGET_NDCG and project >= bm25 + TARGET_OVER_BM25
        ok = ok and worst >= TARGET_CASE_FLOOR
        passed &= ok
        print(
            f"{'PASS' if ok else 'FAIL'} ({mode}): mean nDCG@10 {project:.3f} "
            f"(target >= {TARGET_NDCG}), BM25 {bm25:.3f} (+{project - bm25:.3f}; target "
            f"+{TARGET_OVER_BM25}), worst case {worst:.3f} (target >= {TARGET_CASE_FLOOR})"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 1 if args.strict and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
