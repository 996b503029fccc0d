#!/usr/bin/env bash
# Register mcp-gate with Claude Code (run from the mcp-gate checkout).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)

# stdio: Claude Code starts the gateway itself.
claude mcp add mcp-gate -- "$here/.venv/bin/mcp-gate" run -c "$here/policies.yaml"

# or streamable HTTP, with a gateway you run yourself (`mcp-gate run --transport http`):
# claude mcp add --transport http mcp-gate http://127.0.0.1:8765/mcp --header "Authorization: Bearer $MCP_GATE_TOKEN"
