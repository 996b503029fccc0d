"""``mcp-gate approvals list|show|approve|deny``: decide held calls from a terminal.

The commands talk to the gateway's approval API over HTTP, like any other approver
tool, with the approver's own token from ``$MCP_GATE_APPROVER_TOKEN`` or
``--token-file`` (never a command-line argument, where ``ps`` would show it).

Exit codes: 0 done; 1 refused, not found or already decided; 2 usage, credentials
or connection problems.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2

from mcp_gate.cli import add_config_option, read_config_or_exit
from mcp_gate.units import human_duration

EXIT_REFUSED = 1
EXIT_USAGE = 2
TOKEN_ENV = "MCP_GATE_APPROVER_TOKEN"
URL_ENV = "MCP_GATE_APPROVALS_URL"
STATES = ["pending", "approved", "denied", "expired", "cancelled"]
GRANTS = ["once", "session", "ttl"]
HTTP_MEANING = {
    401: "the approval API did not accept the token",
    403: "refused",
    413: "the request was too large",
}


class CliError(Exception):
    """A problem to print on stderr, with the exit code it stands for."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``approvals list|show|approve|deny`` to the ``mcp-gate`` command."""
    approvals = subparsers.add_parser(
        "approvals",
        help="list, show, approve or deny held calls through the approval API",
        description=f"Decide held calls from a terminal. The approver token comes from ${TOKEN_ENV} or --token-file.",
    )
    actions = approvals.add_subparsers(dest="action", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    add_config_option(common)
    common.add_argument(
        "--url",
        default=os.environ.get(URL_ENV),
        help=f"the gateway's base URL (default: ${URL_ENV}, else approvals.base_url from the policy file)",
    )
    common.add_argument(
        "--token-file", metavar="FILE", help=f"read the approver token from FILE instead of ${TOKEN_ENV}"
    )
    common.add_argument("--json", action="store_true", help="print the API's JSON answer")

    listing = actions.add_parser("list", parents=[common], help="approvals, pending first")
    listing.add_argument("--state", choices=STATES, help="only approvals in this state")
    listing.add_argument("--tool", help="only this tool (a glob such as 'export_*')")
    listing.add_argument("--principal", help="only calls requested by this principal")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.set_defaults(handler=cmd_list)

    show = actions.add_parser("show", parents=[common], help="everything about one approval")
    show.add_argument("id", help="the approval id (apr_…)")
    show.set_defaults(handler=cmd_show)

    approve = actions.add_parser("approve", parents=[common], help="approve a held call")
    approve.add_argument("id", help="the approval id (apr_…)")
    approve.add_argument("--reason", help="an optional note, kept in the audit log")
    approve.add_argument("--grant", choices=GRANTS, default="once", help="how long the approval lasts (default once)")
    approve.set_defaults(handler=cmd_decide, verdict="approve")

    deny = actions.add_parser("deny", parents=[common], help="deny a held call")
    deny.add_argument("id", help="the approval id (apr_…)")
    deny.add_argument("--reason", required=True, help="why (required; the agent and the audit log see it)")
    deny.set_defaults(handler=cmd_decide, verdict="deny", grant="once")


# --------------------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
    filters = {"state": args.state, "tool": args.tool, "principal": args.principal, "limit": str(args.limit)}
    params = {name: value for name, value in filters.items() if value}
    return _run(args, lambda: _call(args, "GET", "/approvals", params=params), _print_list)


def cmd_show(args: argparse.Namespace) -> int:
    return _run(args, lambda: _call(args, "GET", f"/approvals/{quote(args.id, safe='')}"), _print_show)


def cmd_decide(args: argparse.Namespace) -> int:
    body = {"reason": args.reason, "grant": args.grant}
    return _run(
        args,
        lambda: _call(args, "POST", f"/approvals/{quote(args.id, safe='')}/{args.verdict}", body=body),
        _print_decided,
    )


def _run(
    args: argparse.Namespace, request: Callable[[], dict[str, Any]], show: Callable[[dict[str, Any]], None]
) -> int:
    """Make the request and show its answer, or print what went wrong and exit with its code."""
    try:
        answer = request()
    except CliError as exc:
        print(f"mcp-gate approvals: {exc}", file=sys.stderr)
        return exc.code
    if args.json:
        json.dump(answer, sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        show(answer)
    return 0


# --------------------------------------------------------------------------- API


def _call(
    args: argparse.Namespace, method: str, path: str, *, params: dict[str, str] | None = None, body: Any = None
) -> dict[str, Any]:
    """One request to the approval API; the answer's JSON, or ``CliError`` saying what went wrong."""
    url = _api_url(args)
    headers = {"Authorization": f"Bearer {_token(args)}", "Accept": "application/json"}
    try:
        with httpx2.Client(base_url=url, headers=headers, timeout=30.0) as http:
            response = http.request(method, path, params=params, json=body)
    except httpx2.HTTPError as exc:
        raise CliError(EXIT_USAGE, f"cannot reach the approval API at {url}: {exc}") from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise CliError(EXIT_REFUSED, f"{url}{path} answered {response.status_code} without JSON; is this the gateway?")
    if response.status_code == 200:
        return data
    error = str(data.get("error") or f"the gateway answered {response.status_code} {response.reason_phrase}")
    meaning = HTTP_MEANING.get(response.status_code)
    code = EXIT_USAGE if response.status_code in (400, 401, 413) else EXIT_REFUSED
    raise CliError(code, f"{meaning}: {error}" if meaning else error)


def _api_url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url).rstrip("/")
    if not Path(args.config).is_file():
        raise CliError(
            EXIT_USAGE,
            f"where is the gateway? pass --url, set ${URL_ENV}, or point -c at a policy file "
            f"({args.config} not found)",
        )
    return read_config_or_exit(args.config).approvals.base_url


def _token(args: argparse.Namespace) -> str:
    if args.token_file:
        try:
            token = Path(args.token_file).read_text().strip()
        except OSError as exc:
            raise CliError(EXIT_USAGE, f"cannot read --token-file {args.token_file}: {exc.strerror or exc}") from None
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise CliError(EXIT_USAGE, f"an approver token is needed: set ${TOKEN_ENV} or pass --token-file FILE")
    return token


# --------------------------------------------------------------------------- output


def _print_list(data: dict[str, Any]) -> None:
    rows = [
        (a["id"], a["state"], f"{a['server']}/{a['tool']}", a["requester"], a["rule_id"], _detail(a))
        for a in data.get("approvals", [])
    ]
    if not rows:
        print("no approvals match")
        return
    table = [("ID", "STATE", "TOOL", "REQUESTER", "RULE", "DETAIL"), *rows]
    widths = [max(len(row[column]) for row in table) for column in range(5)]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])


def _print_show(a: dict[str, Any]) -> None:
    print(f"{a['id']}  {a['state'].upper()}  {_detail(a)}")
    fields = [
        ("requester", a["requester"]),
        ("client", a.get("client") or "not reported"),
        ("session", a["session"]),
        ("server/tool", f"{a['server']}/{a['tool']}" + (f" ({a['tool_title']})" if a.get("tool_title") else "")),
        ("rule", a["rule_id"] + (f" - {a['rule_reason']}" if a.get("rule_reason") else "")),
        ("justification", a.get("justification") or "none given"),
        ("expires", _utc(a["expires_at"])),
        ("needs", f"{a['quorum']} approval(s); grants allowed: {', '.join(a['grants'])}"),
        ("page", a.get("url", "")),
    ]
    for name, value in fields:
        print(f"  {name:<14} {value}")
    print("  arguments")
    for line in json.dumps(a["arguments"], indent=2, ensure_ascii=False).splitlines():
        print(f"    {line}")
    if a["votes"]:
        print("  votes")
    for vote in a["votes"]:
        note = f": {vote['reason']}" if vote.get("reason") else ""
        print(f"    {vote['approver']} {vote['verdict']}d via {vote['via']} at {_utc(vote['at'])}{note}")


def _print_decided(a: dict[str, Any]) -> None:
    if a["state"] == "pending":
        approvals = len({v["approver"] for v in a["votes"] if v["verdict"] == "approve"})
        print(f"{a['id']}: your approval is recorded; {a['quorum'] - approvals} more approver(s) needed")
    else:
        print(f"{a['id']}: {a['state']} {_detail(a)}")


def _detail(a: dict[str, Any]) -> str:
    """The one thing to know next to an approval's state."""
    if a["state"] == "pending":
        return f"expires in {human_duration(a['expires_in_s'])}"
    by = ", ".join(a.get("decided_by") or [])
    if a["state"] == "approved":
        return f"by {by} (grant {a.get('grant') or 'once'})"
    if a["state"] == "denied" and by:
        return f"by {by}: {a.get('outcome_reason') or ''}".rstrip(": ")
    return a.get("outcome_reason") or ""


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))
