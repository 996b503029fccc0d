"""The one small interface every notification channel implements (Slack, Teams, webhook).

Like httpx's transports: a protocol here, real implementations beside it, fakes
only in tests (at the HTTP boundary, so the real channel code runs unchanged).
"""

from __future__ import annotations

from typing import Protocol

from mcp_gate.approvals.model import Approval


class ChannelError(Exception):
    """The channel could not carry the request; the message says why (no secrets in it)."""


class Channel(Protocol):
    """Tells approvers about an approval, and later about its outcome."""

    name: str

    async def notify(self, approval: Approval) -> None:
        """Put the request in front of approvers; raise ``ChannelError`` if that failed."""
        ...

    async def finished(self, approval: Approval) -> None:
        """Show the outcome where the request was shown (best effort; errors are only logged)."""
        ...
