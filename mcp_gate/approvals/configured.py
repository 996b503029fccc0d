"""The notification channels a policy file configures, built once per gateway run."""

from __future__ import annotations

import httpx2

from mcp_gate.approvals.channel import Channel
from mcp_gate.approvals.slack import SlackChannel
from mcp_gate.approvals.teams import TeamsChannel
from mcp_gate.approvals.webhook import WebhookChannel
from mcp_gate.config import ApprovalsConfig


def configured_channels(config: ApprovalsConfig, http: httpx2.AsyncClient, *, base_url: str) -> dict[str, Channel]:
    """Slack, Teams and webhook channels, in that order, for those the config sets up."""
    channels: dict[str, Channel] = {}
    settings = config.channels
    if settings.slack is not None:
        channels["slack"] = SlackChannel(settings.slack, http, base_url=base_url)
    if settings.teams is not None:
        channels["teams"] = TeamsChannel(settings.teams, http, base_url=base_url)
    if settings.webhook is not None:
        channels["webhook"] = WebhookChannel(settings.webhook, http, base_url=base_url)
    return channels
