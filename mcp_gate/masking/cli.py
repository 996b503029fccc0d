"""``mcp-gate mask``: what the gateway would let through, for text or JSON on stdin.

A compliance officer pipes a tool's output (or a whole export) through it and
sees the masked result, or with ``--explain`` every candidate the detectors
considered, which check it passed or failed, and whether it would be masked.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys

from mcp_gate.cli import add_config_option, read_config_or_exit
from mcp_gate.config import MaskingConfig
from mcp_gate.masking.engine import Masker, MaskingError
from mcp_gate.masking.scanner import Finding


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``mask`` subcommand."""
    parser = subparsers.add_parser(
        "mask",
        help="mask PHI/PII in text or JSON read from stdin",
        description=(
            "Print stdin with PHI/PII masked as the gateway would mask a tool result. "
            "Without -c every entity is masked with the token operator; with -c the "
            "policy file's masking section applies."
        ),
    )
    add_config_option(parser)
    parser.set_defaults(config=None, handler=run)
    parser.add_argument("--json", action="store_true", help="the input is one JSON document; print masked JSON (with --explain: findings as JSON lines)")
    parser.add_argument("--explain", action="store_true", help="list every finding (entity, span, detector, check, masked or not) instead of the masked text")


def run(args: argparse.Namespace) -> int:
    config = read_config_or_exit(args.config).masking if args.config else MaskingConfig()
    try:
        data = sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError:
        print("mcp-gate mask: the input is not UTF-8 text", file=sys.stderr)
        return 2
    masker = Masker.from_config(config, key=secrets.token_bytes(32))
    if args.explain:
        _explain(masker.explain(data), data, as_json=args.json)
        return 0
    session = masker.session("cli")
    try:
        if args.json:
            try:
                value = json.loads(data)
            except ValueError as exc:
                print(f"mcp-gate mask: the input is not JSON: {exc}", file=sys.stderr)
                return 2
            masked, counts = session.mask_value(value)
            sys.stdout.write(json.dumps(masked, ensure_ascii=False, indent=2) + "\n")
        else:
            text, counts = session.mask_text(data)
            sys.stdout.write(text)
    except MaskingError as exc:
        print(f"mcp-gate mask: {exc}", file=sys.stderr)
        return 1
    summary = ", ".join(f"{entity}={n}" for entity, n in sorted(counts.items())) or "nothing"
    print(f"masked: {summary}", file=sys.stderr)
    return 0


def _explain(findings: list[Finding], text: str, *, as_json: bool) -> None:
    for f in findings:
        row = {
            "entity": f.entity,
            "start": f.start,
            "end": f.end,
            "text": text[f.start : f.end],
            "detector": f.detector,
            "check": f.check,
            "masked": f.masked,
        }
        if as_json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            verdict = "masked" if f.masked else "kept"
            print(f"{f.start}-{f.end}\t{verdict}\t{f.entity}\t{f.detector}\t{f.check or '-'}\t{row['text']!r}")
