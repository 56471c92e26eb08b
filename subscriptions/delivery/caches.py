"""The one owner of what a worker process keeps of a day's papers between batches.

A worker keeps the vectorised candidates, the papers' faces and their rendered fragments,
the day's shells and the word stems, so that a run's batches pay for them once. Each is
checked against what it was made from (a fingerprint, or the values it shows), so none is
ever stale; ``forget_day`` empties them all, as on a new day in a fresh process.
"""

from __future__ import annotations

from papers.text import forget_stems
from subscriptions.delivery.content import forget_faces
from subscriptions.delivery.digests import forget_candidates
from subscriptions.delivery.render import forget_stencils


def forget_day() -> None:
    """Empty every per-process cache of a day's papers: candidates, faces, stencils, stems.

    Nothing reads a cache without checking it, so this is never needed for correctness;
    benchmarks call it to measure a cold day, and tests so that no test sees another's.
    """
    forget_candidates()
    forget_faces()
    forget_stencils()
    forget_stems()
