"""The ``mcp-gate`` command line: run, check, tools, token, mask, audit."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from mcp_gate import __version__
from mcp_gate.config import Config, ConfigError, load_config

DEFAULT_CONFIG = "policies.yaml"


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """The ``-c FILE`` option every config-reading subcommand shares."""
    parser.add_argument(
        "-c",
        "--config",
        default=os.environ.get("MCP_GATE_CONFIG", DEFAULT_CONFIG),
        metavar="FILE",
        help="policy file (default: $MCP_GATE_CONFIG or ./policies.yaml)",
    )


def read_config_or_exit(path: str) -> Config:
    """Load the config, or print every problem as FILE:LINE: field: message and exit 1."""
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise SystemExit(1) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcp-gate", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mcp-gate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from mcp_gate.masking.cli import register as register_mask; register_mask(commands)  # noqa: E702
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)
