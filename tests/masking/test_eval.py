"""The issue's quality floors, measured on the labelled synthetic corpus (tests/phi_corpus.py)."""

from __future__ import annotations

import pytest

import phi_corpus
from mcp_gate.config import MaskingConfig
from mcp_gate.masking import Masker


@pytest.fixture(scope="module")
def scores() -> phi_corpus.Scores:
    """Scored once for the module: the corpus takes about half a second to mask."""
    masker = Masker.from_config(MaskingConfig(operator="redact"), key=bytes(32))

    def predict(text: str) -> list[tuple[int, int, str]]:
        masked, _ = masker.session("eval").mask_text(text)
        return phi_corpus.spans_from_redacted(text, masked)

    return phi_corpus.score(phi_corpus.corpus(300), predict)


def test_validated_identifiers_are_found(scores: phi_corpus.Scores) -> None:
    for label in phi_corpus.VALIDATED:
        assert scores.recall_of([label]) >= 0.99, label


def test_dates_addresses_and_record_numbers_are_found(scores: phi_corpus.Scores) -> None:
    for label in ("date", "address", "zip", "mrn"):
        assert scores.recall_of([label]) >= 0.95, label


def test_names_are_found(scores: phi_corpus.Scores) -> None:
    assert scores.recall_of(["name"]) >= 0.90


def test_what_is_masked_is_phi(scores: phi_corpus.Scores) -> None:
    assert scores.overall_precision >= 0.95


def test_look_alikes_failing_their_validator_are_never_masked(scores: phi_corpus.Scores) -> None:
    for label in phi_corpus.VALIDATOR_FAILING:
        hits, total = scores.negatives[label]
        assert total > 0 and hits == 0, label
