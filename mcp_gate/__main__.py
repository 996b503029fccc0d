"""``python -m mcp_gate`` is the same as the ``mcp-gate`` command."""

from mcp_gate.cli import main

raise SystemExit(main())
