"""Per-entity precision, recall and F1 of the masker on the labelled synthetic corpus.

    .venv/bin/python benchmarks/masking_eval.py [--docs N] [--seed S] [--no-presidio]

The corpus (tests/phi_corpus.py) has clinical notes, lab reports, discharge
summaries, JSON records and CSV exports with every entity type, plus hard
negatives.  Every document goes through ``MaskingSession.mask_text`` with the
``redact`` operator, exactly as a tool result would; the spans it replaced are
compared with the labels.  Recall counts an identifier as found when all its
letters and digits were masked; precision counts a masked span as right when it
overlaps a labelled identifier.  With Presidio installed (benchmarks/presidio_side.py),
its recall on the entity types both detect is printed alongside.
"""

from __future__ import annotations

import argparse

import presidio_side
from presidio_side import phi_corpus

from mcp_gate.config import MaskingConfig
from mcp_gate.masking import Masker


def f1(precision: float | None, recall: float) -> float | None:
    if precision is None or precision + recall == 0:
        return None
    return 2 * precision * recall / (precision + recall)


def ratio(pair: tuple[int, int] | None) -> float | None:
    return pair[0] / pair[1] if pair and pair[1] else None


def fmt(value: float | None) -> str:
    return "    -" if value is None else f"{value:5.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=400)
    parser.add_argument("--seed", type=int, default=phi_corpus.SEED)
    parser.add_argument("--no-presidio", action="store_true")
    args = parser.parse_args()

    docs = phi_corpus.corpus(args.docs, args.seed)
    masker = Masker.from_config(MaskingConfig(operator="redact"), key=bytes(32))

    def predict(text: str) -> list[tuple[int, int, str]]:
        masked, _ = masker.session("eval").mask_text(text)
        return phi_corpus.spans_from_redacted(text, masked)

    scores = phi_corpus.score(docs, predict)
    print(f"{len(docs)} documents, seed {args.seed}, {sum(len(d.text) for d in docs) / 1e6:.2f} MB")
    print(f"{'entity':14s} {'gold':>6s} {'recall':>7s} {'masked':>7s} {'precis.':>7s} {'F1':>6s}")
    for label, (hit, total) in scores.recall.items():
        recall = hit / total
        precision = ratio(scores.precision.get(label))
        masked = scores.precision.get(label, (0, 0))[1]
        print(f"{label:14s} {total:6d} {recall:7.3f} {masked:7d} {fmt(precision):>7s} {fmt(f1(precision, recall)):>6s}")
    missed, total = scores.residual
    print(f"overall precision {scores.overall_precision:.4f}; residual PHI: {missed} of {total} identifiers ({missed / total:.2%}) left partly visible")
    print("\nhard negatives (masked / seen):")
    for label, (hit, seen) in scores.negatives.items():
        marker = "  <- fails its validator: must be 0" if label in phi_corpus.VALIDATOR_FAILING else ""
        print(f"  {label:14s} {hit:4d} / {seen:4d}{marker}")

    if args.no_presidio:
        return
    spans = presidio_side.run("spans", args.docs) if args.seed == phi_corpus.SEED else None
    if spans is None:
        print("\npresidio: not run (not installed, or a non-default seed)")
        return
    by_text = {doc.text: [(s, e, presidio_side.ENTITY_OF.get(kind, kind.lower())) for s, e, kind in found] for doc, found in zip(docs, spans)}
    theirs = phi_corpus.score(docs, lambda text: by_text[text])
    shared = sorted(set(presidio_side.ENTITY_OF.values()) & set(scores.recall))
    print("\nrecall on the entity types both detect (Presidio: pattern recognizers, no NLP model)")
    print(f"{'entity':14s} {'mcp-gate':>9s} {'presidio':>9s}")
    for label in shared:
        print(f"{label:14s} {scores.recall_of([label]):9.3f} {theirs.recall_of([label]):9.3f}")
    print(f"{'all shared':14s} {scores.recall_of(shared):9.3f} {theirs.recall_of(shared):9.3f}")
    print(f"precision over everything masked: mcp-gate {scores.overall_precision:.3f}, presidio {theirs.overall_precision:.3f}")


if __name__ == "__main__":
    main()
