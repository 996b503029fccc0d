"""mcp-gate audit verify | tail | query: check, watch and export the audit trail."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from mcp_gate.audit.checkpoint import (
    KeyFileError,
    VerifyKey,
    load_signing_key,
    load_verify_key,
)
from mcp_gate.audit.segments import LogFiles, UnreadableError
from mcp_gate.audit.verify import select, verify
from mcp_gate.audit.view import (
    FILTER_FIELDS,
    RecordFilter,
    export,
    format_record,
    parse_time,
    tail,
)
from mcp_gate.cli import DEFAULT_CONFIG, add_config_option, read_config_or_exit
from mcp_gate.config import Config


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit verify``, ``audit tail`` and ``audit query`` to the ``mcp-gate`` command."""
    audit = subparsers.add_parser("audit", help="verify, tail and query the audit log", description=__doc__)
    commands = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "verify",
        help="check the log's records, sequence, hash chain and checkpoints",
        description="Exit 0: intact; 1: broken (the first problem is printed as FILE:LINE: seq N: what); 2: unreadable.",
    )
    add_config_option(check)
    check.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="a log (with its rotated files) or closed files; default: the config's audit.path",
    )
    check.add_argument(
        "--key",
        type=Path,
        metavar="FILE",
        help="Ed25519 public key (PEM) or a file holding the HMAC secret; default: the config's checkpoint key",
    )
    check.add_argument("--all", action="store_true", help="print every problem, not only the first")
    check.set_defaults(handler=run_verify, config=None)  # with PATHs, the config is read only when -c is given

    watch = commands.add_parser("tail", help="show the latest records readably, optionally following new ones")
    add_config_option(watch)
    watch.add_argument("path", nargs="?", type=Path, metavar="PATH", help="the log; default: the config's audit.path")
    watch.add_argument("-f", "--follow", action="store_true", help="keep printing new records, across rotation")
    watch.add_argument("-n", "--lines", type=int, default=10, metavar="N", help="how many earlier records to show (default 10)")
    watch.add_argument("--json", action="store_true", help="print the records as JSON lines")
    _add_filters(watch)
    watch.set_defaults(handler=run_tail)

    search = commands.add_parser("query", help="export the records of a time range that match filters")
    add_config_option(search)
    search.add_argument("path", nargs="?", type=Path, metavar="PATH", help="the log; default: the config's audit.path")
    search.add_argument("--since", metavar="TIME", help="2026-11-01, 2026-11-01T08:00Z, or a duration ago such as 7d (inclusive)")
    search.add_argument("--until", metavar="TIME", help="like --since (exclusive)")
    search.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    _add_filters(search)
    search.set_defaults(handler=run_query)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters (globs; repeat an option to accept any of several values)")
    for name in FILTER_FIELDS:
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"filter_{name}", action="append", metavar="GLOB")


def _filter(args: argparse.Namespace, since: str | None = None, until: str | None = None) -> RecordFilter:
    globs = {name: patterns for name in FILTER_FIELDS if (patterns := getattr(args, f"filter_{name}"))}
    return RecordFilter(globs, since, until)


def _config_log(args: argparse.Namespace, path: Path | None) -> Path:
    if path is not None:
        return path
    config = read_config_or_exit(args.config)
    return config.audit.log_path(config.base_dir)


# --------------------------------------------------------------------------- verify


def run_verify(args: argparse.Namespace) -> int:
    config: Config | None
    if args.paths:
        config = read_config_or_exit(args.config) if args.config else None
        paths = args.paths
    else:
        config = read_config_or_exit(args.config or os.environ.get("MCP_GATE_CONFIG", DEFAULT_CONFIG))
        paths = [config.audit.log_path(config.base_dir)]
    try:
        key = _verify_key(args.key, config)
    except KeyFileError as exc:
        print(f"mcp-gate audit verify: {exc}", file=sys.stderr)
        return 2
    worst = 0
    for selection in select(paths):
        report = verify(selection, key)
        for problem in report.problems if args.all else report.problems[:1]:
            print(problem)
        print(report.summary(), file=sys.stderr if report.unreadable else sys.stdout)
        for note in report.notes:
            print(f"note: {note}")
        worst = max(worst, report.exit_code)
    return worst


def _verify_key(path: Path | None, config: Config | None) -> VerifyKey | None:
    if path is not None:
        return load_verify_key(path)
    checkpoint = config.audit.checkpoint if config else None
    if config is None or checkpoint is None:
        return None
    secret = checkpoint.hmac_key.get_secret_value() if checkpoint.hmac_key else None
    return load_signing_key(secret, config.audit.key_path(config.base_dir))


# --------------------------------------------------------------------------- tail and query


def run_tail(args: argparse.Namespace) -> int:
    files = LogFiles(_config_log(args, args.path))
    colour = not args.json and sys.stdout.isatty() and "NO_COLOR" not in os.environ

    def emit(record: dict[str, object]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) if args.json else format_record(record, colour)
        print(line, flush=True)

    return _run(lambda: tail(files, _filter(args), emit, args.lines, args.follow))


def run_query(args: argparse.Namespace) -> int:
    files = LogFiles(_config_log(args, args.path))
    try:
        keep = _filter(args, parse_time(args.since) if args.since else None, parse_time(args.until) if args.until else None)
    except ValueError as exc:
        print(f"mcp-gate audit query: {exc}", file=sys.stderr)
        return 2
    return _run(lambda: export(files.segments(), keep, sys.stdout, args.format))


def _run(action: Callable[[], object]) -> int:
    """Run a reader; a closed pipe (``| head``) or Ctrl-C ends it quietly."""
    try:
        action()
    except UnreadableError as exc:
        print(f"mcp-gate audit: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except KeyboardInterrupt:
        pass
    return 0
