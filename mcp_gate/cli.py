"""The ``mcp-gate`` command line: run, check, tools, token, demo, mask, audit."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import anyio

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


# --------------------------------------------------------------------------- run


def cmd_run(args: argparse.Namespace) -> int:
    from mcp_gate.audit import AuditError
    from mcp_gate.gateway import StartupError
    from mcp_gate.serve import configure_logging, serve

    config = read_config_or_exit(args.config)
    configure_logging(args.log_level)
    if args.transport == "http" and not config.identity.tokens:
        print(
            f"{args.config}: identity.tokens: serving HTTP needs at least one bearer token "
            "(create one with `mcp-gate token --principal NAME`)",
            file=sys.stderr,
        )
        return 1
    try:
        anyio.run(serve, config, args.transport, args.host, args.port)
    except (AuditError, StartupError, OSError) as exc:
        print(f"mcp-gate: {exc}", file=sys.stderr)
        return 1
    except BaseExceptionGroup as group:
        # Task groups wrap what failed inside them; a known failure still gets its one clear line.
        known = group.subgroup((AuditError, StartupError, OSError))
        if known is None or known.exceptions != group.exceptions:
            raise
        for exc in _leaves(known):
            print(f"mcp-gate: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found


# --------------------------------------------------------------------------- check


def cmd_check(args: argparse.Namespace) -> int:
    config = read_config_or_exit(args.config)
    tokens = len(config.identity.tokens)
    print(
        f"{args.config}: OK: {len(config.upstreams)} upstream(s), {len(config.rules)} rule(s), "
        f"default {config.default}, {tokens} HTTP token(s)"
    )
    return 0


# --------------------------------------------------------------------------- tools


def _decision_text(summary: list[tuple[str, str, bool]]) -> str:
    parts = []
    for action, rule_id, conditional in summary:
        origin = "default" if rule_id == "default" else f"rule {rule_id}"
        parts.append(f"{action} ({origin}{', when its conditions match' if conditional else ''})")
    return "; else ".join(parts)


async def _catalog_rows(config: Config) -> tuple[list[dict[str, Any]], dict[str, tuple[str, str | None]]]:
    from mcp_gate.audit import AuditLog
    from mcp_gate.gateway import Gateway

    # Listing tools runs no calls, so the audit log is never opened (nothing to record).
    gateway = Gateway(config, AuditLog(config.audit.log_path(config.base_dir)))
    async with gateway.running():
        rows = []
        for entry in gateway.catalog.entries.values():
            rows.append(
                {
                    "name": entry.name,
                    "upstream": entry.upstream,
                    "tool": entry.tool.name,
                    "decision": entry.policy.summary()[0][0],
                    "rules": [
                        {"action": a, "rule": r, "conditional": c} for a, r, c in entry.policy.summary()
                    ],
                    "hidden": config.hide_denied and entry.policy.always_denied,
                }
            )
        upstreams = {name: (u.state, u.last_error) for name, u in gateway.upstreams.items()}
    return rows, upstreams


def cmd_tools(args: argparse.Namespace) -> int:
    from mcp_gate.gateway import StartupError
    from mcp_gate.serve import configure_logging

    config = read_config_or_exit(args.config)
    configure_logging(args.log_level)
    try:
        rows, upstreams = anyio.run(_catalog_rows, config)
    except StartupError as exc:
        print(f"mcp-gate: {exc}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(
            {"tools": rows, "upstreams": {n: {"state": s, "error": e} for n, (s, e) in upstreams.items()}},
            sys.stdout,
            indent=2,
        )
        print()
    else:
        width = max([len(r["name"]) for r in rows] + [4])
        up_width = max([len(r["upstream"]) for r in rows] + [8])
        print(f"{'TOOL':<{width}}  {'UPSTREAM':<{up_width}}  DECISION")
        for row in rows:
            summary = [(r["action"], r["rule"], r["conditional"]) for r in row["rules"]]
            hidden = "  [hidden from tools/list]" if row["hidden"] else ""
            print(f"{row['name']:<{width}}  {row['upstream']:<{up_width}}  {_decision_text(summary)}{hidden}")
    down = {name: error for name, (state, error) in upstreams.items() if state != "up"}
    for name, error in down.items():
        print(f"upstream {name!r} is not connected: {error or 'no answer'}", file=sys.stderr)
    return 1 if down else 0


# --------------------------------------------------------------------------- token


def cmd_token(args: argparse.Namespace) -> int:
    from mcp_gate.identity import new_token

    token, digest = new_token()
    print(f"token (hand it over now; it is not stored anywhere): {token}")
    print("add to policies.yaml:")
    if args.approver:
        print("approvals:\n  tokens:")
        print(f"    - approver: {json.dumps(args.approver)}\n      sha256: {digest}")
    else:
        print("identity:\n  tokens:")
        print(f"    - principal: {json.dumps(args.principal)}\n      sha256: {digest}")
    return 0


# --------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mcp_gate.demo import run_demo

    config = read_config_or_exit(args.config)
    return anyio.run(run_demo, Path(args.config), config)


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-gate",
        description="An MCP gateway: policies, human approval, PHI masking and an audit trail for agents' tool calls.",
    )
    parser.add_argument("--version", action="version", version=f"mcp-gate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="serve MCP (stdio by default, or streamable HTTP)")
    add_config_option(run)
    run.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    run.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=8765, help="HTTP port (default 8765; 0 picks a free one)")
    run.add_argument("--log-level", default=os.environ.get("MCP_GATE_LOG_LEVEL", "info"))
    run.set_defaults(handler=cmd_run)

    check = commands.add_parser("check", help="validate the policy file without starting anything")
    add_config_option(check)
    check.set_defaults(handler=cmd_check)

    tools = commands.add_parser("tools", help="connect to the upstreams and print the effective tool catalog")
    add_config_option(tools)
    tools.add_argument("--json", action="store_true", help="machine-readable output")
    tools.add_argument("--log-level", default=os.environ.get("MCP_GATE_LOG_LEVEL", "warning"))
    tools.set_defaults(handler=cmd_tools)

    demo = commands.add_parser("demo", help="play a scripted agent session against the demo EHR server")
    add_config_option(demo)
    demo.set_defaults(handler=cmd_demo)

    token = commands.add_parser("token", help="make a new bearer token and its policy-file entry")
    who = token.add_mutually_exclusive_group()
    who.add_argument("--principal", default="agent@example.com", help="an agent's token for the HTTP transport")
    who.add_argument("--approver", help="an approver's token for the approval page, API and CLI")
    token.set_defaults(handler=cmd_token)

    # Subcommand groups that live with their packages; imported here because they use the helpers above.
    from mcp_gate.approvals.cli import register as register_approvals
    from mcp_gate.audit.cli import register as register_audit
    from mcp_gate.masking.cli import register as register_mask

    register_approvals(commands)
    register_audit(commands)
    register_mask(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)
