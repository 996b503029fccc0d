"""Putting an approval in front of approvers: the rule's ``via`` channels, tried in order.

The first channel that takes the request is the one used; each attempt, failed
or not, is recorded (``approval.notified``).  When none can take it the
approval is denied with a message naming every channel and why it failed, so
an operator knows what to fix — a request nobody can see must not wait, and
must never pass.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from mcp_gate.approvals.broker import CLIENT, Broker
from mcp_gate.approvals.channel import Channel, ChannelError
from mcp_gate.approvals.model import Approval

logger = logging.getLogger(__name__)

API = "api"
"""The channel that sends nothing: approvers watch the approval page, API and CLI."""


class Notifier:
    """The configured channels (Slack, Teams, webhook) and the order rules ask them in."""

    def __init__(self, broker: Broker, channels: Mapping[str, Channel], *, page_url: str | None) -> None:
        self.broker = broker
        self.channels = dict(channels)
        self.page_url = page_url
        broker.add_listener(self._finished)

    def default_via(self) -> list[str]:
        """No ``via`` on the rule: the agent's own client first, then every configured chat channel."""
        return [CLIENT, *self.channels]

    async def ask(self, approval: Approval, via: Sequence[str], *, client_problem: str | None) -> str | None:
        """Notify through the first channel that works; returns its name, or None if none did.

        ``client_problem`` says why the agent's client cannot take the question
        (None when it can); the client channel itself is driven by the gateway.
        """
        for name in via:
            if name == CLIENT:
                problem = client_problem
            elif name == API:
                problem = None if self.page_url else "the approval page and API are not served"
            elif name not in self.channels:
                problem = "not configured"
            else:
                problem = await self._notify(self.channels[name], approval)
            self._record(approval, name, problem)
            if problem is None:
                return name
        return None

    def refusal_message(self, approval: Approval) -> str:
        """Why nobody could be asked, channel by channel, and what to configure."""
        tried = "; ".join(f"{name}: {why}" for name, why in approval.channels.items()) or "no channel is configured"
        return (
            f"no approval channel could take the request ({tried}). Configure one under approvals.channels "
            "(or use a client that supports elicitation) and name it in the rule's `via`."
        )

    async def _notify(self, channel: Channel, approval: Approval) -> str | None:
        try:
            await channel.notify(approval)
        except ChannelError as exc:
            logger.error("approval %s: channel %s failed: %s", approval.id, channel.name, exc)
            return str(exc) or type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - a broken channel is a failed channel, never a pass
            logger.exception("approval %s: channel %s raised", approval.id, channel.name)
            return f"unexpected error ({type(exc).__name__})"
        return None

    def _record(self, approval: Approval, name: str, problem: str | None) -> None:
        approval.channels[name] = "notified" if problem is None else problem
        self.broker.store.save(approval)
        self.broker.record(
            "approval.notified",
            approval,
            channel=name,
            outcome="notified" if problem is None else "failed",
            error=problem,
        )

    async def _finished(self, approval: Approval) -> None:
        """Show the outcome in every chat channel that showed the request."""
        for name, status in approval.channels.items():
            channel = self.channels.get(name)
            if channel is None or status != "notified":
                continue
            try:
                await channel.finished(approval)
            except Exception:  # noqa: BLE001 - an outcome message is a courtesy; the decision stands
                logger.exception("approval %s: could not show the outcome in %s", approval.id, name)
