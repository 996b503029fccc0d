"""mcp-gate: an MCP gateway with per-action policies, human approval, PHI masking and an audit trail."""

__version__ = "0.1.0"
