"""Microsoft Presidio on the benchmark inputs, run in Presidio's own virtualenv.

Presidio is not a dependency of mcp-gate.  The benchmarks call ``run(mode, size)``,
which starts this file with the interpreter of ``benchmarks/.venv-presidio``;
create it once with

    python3 -m venv benchmarks/.venv-presidio
    benchmarks/.venv-presidio/bin/pip install presidio-analyzer presidio-anonymizer

Presidio is set up with its pattern recognizers only and its ``NoOpNlpEngine``,
so no spaCy model is needed (Presidio documents that context words are then
ignored).  Inputs are generated here from tests/phi_corpus.py with the same
seeds as on our side, so both sides see the same text.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PYTHON = HERE / ".venv-presidio" / "bin" / "python"
sys.path.insert(0, str(HERE.parent / "tests"))

import phi_corpus  # noqa: E402

ENTITY_OF = {
    "US_SSN": "ssn", "PHONE_NUMBER": "phone", "EMAIL_ADDRESS": "email", "CREDIT_CARD": "credit_card",
    "IBAN_CODE": "iban", "IP_ADDRESS": "ip", "MAC_ADDRESS": "mac", "URL": "url", "DATE_TIME": "date",
    "US_NPI": "npi", "US_MBI": "mbi", "MEDICAL_LICENSE": "dea", "US_DRIVER_LICENSE": "license",
}  # fmt: skip
"""Presidio entity → ours, for the types both detect."""


def run(mode: str, size: int) -> Any | None:
    """Presidio's result for ``mode`` (``text``, ``json``, ``spans``), or None if it is not installed."""
    if not PYTHON.exists():
        return None
    done = subprocess.run([str(PYTHON), __file__, mode, str(size)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


RECOGNIZERS_NAMES = (
    "CreditCardRecognizer", "DateRecognizer", "EmailRecognizer", "IbanRecognizer", "IpRecognizer",
    "MacAddressRecognizer", "MedicalLicenseRecognizer", "PhoneRecognizer", "UrlRecognizer",
    "UsSsnRecognizer", "UsNpiRecognizer", "UsMbiRecognizer", "UsItinRecognizer", "UsLicenseRecognizer",
    "UsPassportRecognizer", "UsBankRecognizer",
)  # fmt: skip
"""Every US/generic pattern recognizer, including NPI and MBI (off by default in Presidio)."""


def engines() -> tuple[Any, Any]:
    """Analyzer (pattern recognizers, no NLP model) and anonymizer (default ``<ENTITY>`` replace)."""
    import tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer import predefined_recognizers as pr
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_anonymizer import AnonymizerEngine

    # The URL recognizer's tldextract would try to download the suffix list; use its bundled copy.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())
    registry = RecognizerRegistry(recognizers=[getattr(pr, name)() for name in RECOGNIZERS_NAMES])
    nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"]), AnonymizerEngine()


def mask(analyzer: Any, anonymizer: Any, text: str) -> tuple[str, list[Any]]:
    results = analyzer.analyze(text=text, language="en")
    return anonymizer.anonymize(text=text, analyzer_results=results).text, results


def main() -> None:
    mode, size = sys.argv[1], int(sys.argv[2])
    analyzer, anonymizer = engines()
    if mode == "spans":  # the evaluation corpus: spans Presidio would anonymize
        docs = phi_corpus.corpus(size)
        out = [[(r.start, r.end, r.entity_type) for r in mask(analyzer, anonymizer, d.text)[1]] for d in docs]
        print(json.dumps(out))
        return
    text = phi_corpus.free_text(size) if mode == "text" else json.dumps(phi_corpus.json_records(size))
    start = time.perf_counter()
    mask(analyzer, anonymizer, text)
    seconds = time.perf_counter() - start
    small = phi_corpus.free_text(4096, seed=7)
    laps = []
    for _ in range(20):
        t = time.perf_counter()
        mask(analyzer, anonymizer, small)
        laps.append(time.perf_counter() - t)
    print(json.dumps({"bytes": len(text.encode()), "seconds": seconds, "p50_4k": statistics.median(laps)}))


if __name__ == "__main__":
    main()
