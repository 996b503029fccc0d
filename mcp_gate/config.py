"""The policies.yaml contract as pydantic models, and ``load_config`` with file:line errors.

Every model forbids unknown keys: a typo such as ``acton: deny`` must stop the
gateway, not silently turn a rule into something weaker.  Secrets are kept in
``SecretStr`` and error messages never echo values, so a mistyped token does not
end up in a terminal scrollback or a CI log.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from phonenumbers import PhoneMetadata
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from mcp_gate.units import Duration, Size
from mcp_gate.yamlsource import SourceError, YamlDocument, parse_yaml

Action = Literal["allow", "deny", "approve"]

UPSTREAM_KEY_ALIASES = ("upstreams", "mcpServers", "servers")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")

TOOL_ANNOTATION_DEFAULTS: dict[str, bool | str | None] = {
    "title": None,
    "readOnlyHint": False,
    "destructiveHint": True,
    "idempotentHint": False,
    "openWorldHint": True,
}
"""MCP tool annotations and the values the spec says to assume when a server omits them."""


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_regex(value: str) -> str:
    """A regex that compiles, or the reason it does not."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


def _as_list(value: Any) -> Any:
    """Let a single glob stand for a one-element list (``tool: get_*``)."""
    return [value] if isinstance(value, str) else value


# --------------------------------------------------------------------------- identity


class TokenDigest(StrictModel):
    """A bearer token as the policy file holds it: only its SHA-256 (``mcp-gate token`` makes one)."""

    sha256: str

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        value = value.strip().lower()
        if not _SHA256_HEX.match(value):
            raise ValueError("must be the 64-character hex SHA-256 of the token (run `mcp-gate token`)")
        return value


class BearerToken(TokenDigest):
    """An agent's token for the gateway's HTTP transport."""

    principal: str = Field(min_length=1)


class IdentityConfig(StrictModel):
    """Who is asking: the stdio user, and the bearer tokens accepted over HTTP."""

    user: str | None = None
    tokens: list[BearerToken] = Field(default_factory=list)

    @property
    def stdio_principal(self) -> str:
        """The configured user, or the OS account running the gateway."""
        return self.user or getpass.getuser()


# --------------------------------------------------------------------------- upstreams


class UpstreamConfig(StrictModel):
    """One upstream MCP server, in the shape clients already use in ``mcpServers``.

    Either ``command`` (stdio, with ``args``/``env``/``cwd``) or ``url``
    (streamable HTTP, with ``headers``).  ``type`` is accepted for VS Code's
    ``servers`` block.
    """

    type: Literal["stdio", "http", "streamable-http"] | None = None
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, SecretStr] = Field(default_factory=dict)
    cwd: Path | None = None
    url: str | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout: Duration = 120.0
    """Longest a single tool call may take on this upstream (time spent waiting for the
    user to answer an elicitation does not count)."""
    connect_timeout: Duration = 30.0
    """Longest the connection handshake may take before the upstream counts as down."""
    protocol: Literal["auto", "legacy", "2026-07-28"] = "auto"
    """Protocol era to speak: ``auto`` probes and falls back; ``legacy`` forces 2025-11-25."""
    disabled: bool = False

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> Any:
        if value == "sse":
            raise ValueError("the SSE transport is deprecated and not supported; use the server's streamable HTTP URL")
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> UpstreamConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either `command` (a stdio server) or `url` (a streamable HTTP server)")
        if self.command is not None:
            if self.type not in (None, "stdio"):
                raise ValueError(f"type {self.type!r} does not fit a `command`; use type: stdio or give a `url`")
            if self.headers:
                raise ValueError("`headers` only applies to HTTP upstreams (`url`)")
        else:
            if self.type == "stdio":
                raise ValueError("type stdio needs a `command`, not a `url`")
            if self.args or self.env or self.cwd is not None:
                raise ValueError("`args`, `env` and `cwd` only apply to stdio upstreams (`command`)")
            if not str(self.url).startswith(("http://", "https://")):
                raise ValueError("`url` must be an http:// or https:// URL")
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command is not None else "http"


# --------------------------------------------------------------------------- rules


class ArgCondition(StrictModel):
    """A test on one argument (a dotted path into the call's arguments).

    Several tests in one condition must all hold.  A bare value is shorthand for
    ``equals``.  ``regex`` and ``glob`` on a non-string value test its JSON text,
    so wrapping a string in a list cannot slip past them.
    """

    equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    regex: str | None = None
    glob: str | None = None
    exists: bool | None = None
    gt: float | None = None
    lt: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return {"equals": value}
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> ArgCondition:
        if not self.model_fields_set:
            raise ValueError("a condition needs at least one of equals, in, regex, glob, exists, gt, lt")
        return self

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return None if value is None else _check_regex(value)


class Match(StrictModel):
    """What a rule applies to.  Every given field must match; an empty match matches all."""

    server: list[str] | None = None
    tool: list[str] | None = None
    args: dict[str, ArgCondition] = Field(default_factory=dict)
    annotations: dict[str, bool | str | int | float] = Field(default_factory=dict)
    principal: list[str] | None = None
    client: list[str] | None = None

    @field_validator("server", "tool", "principal", "client", mode="before")
    @classmethod
    def _globs(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("annotations")
    @classmethod
    def _known_hints(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if name not in TOOL_ANNOTATION_DEFAULTS:
                known = ", ".join(TOOL_ANNOTATION_DEFAULTS)
                raise ValueError(f"unknown tool annotation {name!r} (known: {known})")
        return value

    @field_validator("args")
    @classmethod
    def _paths(cls, value: dict[str, ArgCondition]) -> dict[str, ArgCondition]:
        for path in value:
            if not path or any(part == "" for part in path.split(".")):
                raise ValueError(f"argument path {path!r} is empty or has an empty segment")
        return value


Channel = Literal["client", "slack", "teams", "webhook", "api"]
"""``api``: no message is sent; approvers watch the approval page, API or ``mcp-gate approvals list``."""
Grant = Literal["once", "session", "ttl"]


class Rule(StrictModel):
    """One policy rule; the first rule whose ``match`` fits a call decides it."""

    id: str | None = None
    match: Match = Field(default_factory=Match)
    action: Action
    reason: str | None = None
    # Approval settings (used when action is `approve`).
    approvers: str | list[str] | None = None
    """A group from ``approvals.approvers``, a list of approver identities, or ``client`` (the agent's own user)."""
    via: list[Channel] | None = None
    """Channels to ask, in order; the first that can take the request is used."""
    quorum: int = Field(default=1, ge=1)
    separate_requester: bool = False
    justification: Literal["required", "optional"] | None = None
    grants: list[Grant] = Field(default_factory=lambda: ["once"], min_length=1)
    """What an approver may grant: this one call (``once``), the same call for the rest of the
    session (``session``), or for ``grant_ttl``."""
    grant_ttl: Duration = 3600.0
    show_arguments: Literal["masked", "raw"] = "masked"
    """What approvers see of the arguments."""
    elicitation: Literal["form", "url"] = "form"
    """How the agent's client asks: a form in the client, or a link to the approval page."""
    audit: Literal["sync"] | None = None
    """``sync``: the call's audit records are on disk before its result reaches the agent."""
    # Masking settings.
    mask: MaskOverride | None = None
    """``false`` turns masking off for this rule's results; a mapping overrides entities/operator."""
    unmask_args: bool = False
    """Replace this session's masking tokens in the call's arguments with the original values."""


# --------------------------------------------------------------------------- approvals, masking, audit


class SlackChannelConfig(StrictModel):
    bot_token: SecretStr
    signing_secret: SecretStr
    channel: str
    api_url: str = "https://slack.com/api"
    users: dict[str, str] = Field(default_factory=dict)
    """Slack user id → approver identity; clicks from anyone else are refused."""


class TeamsChannelConfig(StrictModel):
    webhook_url: SecretStr


class WebhookChannelConfig(StrictModel):
    url: str
    secret: SecretStr
    """A Standard Webhooks secret (``whsec_…`` base64, or any string of 24+ characters)."""
    retries: int = Field(default=5, ge=0, le=20)

    @field_validator("secret")
    @classmethod
    def _usable_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret.startswith("whsec_"):
            try:
                key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
            except binascii.Error:
                raise ValueError("after `whsec_` the secret must be base64") from None
            if len(key) < 24:
                raise ValueError("a `whsec_` secret must decode to 24 bytes or more")
        elif len(secret) < 24:
            raise ValueError("use a `whsec_…` secret or a string of 24 characters or more")
        return value


class ChannelsConfig(StrictModel):
    slack: SlackChannelConfig | None = None
    teams: TeamsChannelConfig | None = None
    webhook: WebhookChannelConfig | None = None


class ApproverToken(TokenDigest):
    """An approver's token for the approval API, page and CLI."""

    approver: str = Field(min_length=1)


class ApprovalsConfig(StrictModel):
    timeout: Duration = 600.0
    """A pending approval expires (and counts as denied) after this long."""
    hold: Duration = 50.0
    """Longest a tools/call is held open, with progress notifications, before it answers "pending"."""
    store: str = "memory"
    """``memory``, or ``sqlite:///path/to/approvals.db`` to keep approvals across restarts."""
    listen: str = "127.0.0.1:8766"
    """Where the approval page and API are served when the gateway itself runs on stdio."""
    url: str | None = None
    """The approval page's public base URL, for links in Slack, Teams and elicitation (default: from ``listen``)."""
    approvers: dict[str, list[str]] = Field(default_factory=dict)
    """Approver groups: name → identities."""
    tokens: list[ApproverToken] = Field(default_factory=list)
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)

    @field_validator("store")
    @classmethod
    def _known_store(cls, value: str) -> str:
        if value != "memory" and not value.startswith("sqlite:///"):
            raise ValueError("use `memory` or `sqlite:///path/to/approvals.db`")
        return value

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("write host:port, e.g. 127.0.0.1:8766")
        return value

    @property
    def base_url(self) -> str:
        if self.url:
            return self.url.rstrip("/")
        host, _, port = self.listen.rpartition(":")
        return f"http://{host}:{port}"


MaskOperator = Literal["token", "redact", "partial", "hash"]

MASKING_ENTITIES = (
    "ssn", "phone", "email", "url", "ip", "mac", "date", "age", "zip", "address",
    "mrn", "account", "health_plan", "license", "device", "vin",
    "npi", "dea", "mbi", "credit_card", "iban", "name",
)  # fmt: skip
"""Built-in masking entities (docs/masking.md says how each is found and checked)."""

CustomValidator = Literal["luhn", "mod97", "ssn", "npi", "dea", "mbi", "vin", "credit_card"]
DEFAULT_RESTRICTED_ZIP3 = ("036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879", "884", "890", "893")
"""ZIP-3 areas of 20,000 people or fewer (HHS guidance, 2000 Census): ``partial`` writes ``000``."""

_ENTITY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class CustomEntity(StrictModel):
    """A site-specific identifier: a regex, optionally only near context words, optionally checked."""

    name: str
    regex: str
    context: list[str] = Field(default_factory=list)
    """Words of which one must appear shortly before a match (case-insensitive); empty = anywhere."""
    validator: CustomValidator | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _ENTITY_NAME.match(value):
            raise ValueError("a custom entity name is lower-case letters, digits and '_', starting with a letter")
        if value in MASKING_ENTITIES:
            raise ValueError(f"{value!r} is a built-in entity; pick another name")
        return value

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str) -> str:
        _check_regex(value)
        if re.compile(value).match(""):
            raise ValueError("the regex matches the empty string")
        return value


class MaskOverride(StrictModel):
    """A rule's own masking: other entities and/or another operator, or ``mask: false`` for none."""

    enabled: bool = True
    entities: list[str] | None = None
    operator: MaskOperator | None = None

    @model_validator(mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        """``mask: false`` switches masking off; ``mask: true`` keeps the global settings."""
        if isinstance(value, bool):
            return {"enabled": value}
        return value

    @field_validator("entities")
    @classmethod
    def _entity_names(cls, value: list[str] | None) -> list[str] | None:
        """Built-in names, or names shaped like a custom entity's (the masker checks those)."""
        for name in value or ():
            if name not in MASKING_ENTITIES and not _ENTITY_NAME.match(name):
                raise ValueError(f"unknown masking entity {name!r} (built-in: {', '.join(MASKING_ENTITIES)})")
        return value


class MaskingConfig(StrictModel):
    entities: list[str] | None = None
    """Entities to mask; omitted = every built-in and custom entity."""
    operator: MaskOperator = "token"
    operators: dict[str, MaskOperator] = Field(default_factory=dict)
    """Per-entity operator overrides, e.g. ``{date: partial}``."""
    fields: list[str] = Field(default_factory=list)
    """JSON keys (and CSV columns) whose whole value is masked; case and ``_``/``-`` do not matter."""
    allow: list[str] = Field(default_factory=list)
    """Values never masked, compared exactly (e.g. the clinic's public phone number)."""
    allow_regex: list[str] = Field(default_factory=list)
    """Regexes; a finding that matches one in full is never masked."""
    region: str = "US"
    """Default region for phone numbers without a country code (ISO 3166 alpha-2)."""
    custom: list[CustomEntity] = Field(default_factory=list)
    max_bytes: Size = 16 * 1024 * 1024
    """Largest result masked; a larger one is refused (the agent gets an error, never the raw result)."""
    restricted_zip3: list[str] = Field(default_factory=lambda: list(DEFAULT_RESTRICTED_ZIP3))

    @field_validator("allow_regex")
    @classmethod
    def _allow_regexes(cls, value: list[str]) -> list[str]:
        return [_check_regex(item) for item in value]

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{2}", value) or PhoneMetadata.metadata_for_region(value.upper()) is None:
            raise ValueError(f"region {value!r} is not a two-letter country code with phone numbering (such as US or GB)")
        return value.upper()

    @field_validator("restricted_zip3")
    @classmethod
    def _zip3(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.fullmatch(r"\d{3}", item):
                raise ValueError(f"{item!r} is not a three-digit ZIP prefix")
        return value

    @model_validator(mode="after")
    def _known_names(self) -> MaskingConfig:
        known = MASKING_ENTITIES + tuple(c.name for c in self.custom)
        names = [c.name for c in self.custom]
        if len(set(names)) != len(names):
            raise ValueError("custom entity names must be unique")
        for name in [*(self.entities or ()), *self.operators]:
            if name not in known:
                raise ValueError(f"unknown masking entity {name!r} (known: {', '.join(known)})")
        return self


class RotateConfig(StrictModel):
    """When the gateway closes the audit file and starts the next one (never copy-truncate).

    ``rotate: 100MB`` is shorthand for ``rotate: {size: 100MB}``.
    """

    size: Size | None = None
    every: Duration | None = None
    """Rotate at the first write after each multiple of this interval (UTC), e.g. ``1d``."""
    compress: bool = False
    """Gzip closed files in the background."""
    keep: int | None = Field(default=None, ge=1)
    """How many closed files to keep; older ones are deleted (and that is logged)."""

    @model_validator(mode="before")
    @classmethod
    def _size_shorthand(cls, value: Any) -> Any:
        if isinstance(value, str | int) and not isinstance(value, bool):
            return {"size": value}
        return value


class CheckpointConfig(StrictModel):
    """Signed checkpoints: a rewrite of the log with a freshly computed chain fails them.

    Give exactly one key: ``hmac_key`` (a shared secret, at least 32 characters) or
    ``ed25519_key`` (a PEM private-key file; auditors verify with the public key only).
    """

    every: int = Field(default=1000, ge=1)
    """At most this many records go unsigned."""
    interval: Duration = 60.0
    """Sign pending records at least this often, even when the gateway is idle."""
    hmac_key: SecretStr | None = None
    ed25519_key: Path | None = None

    @field_validator("hmac_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("use at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value

    @model_validator(mode="after")
    def _one_key(self) -> CheckpointConfig:
        if (self.hmac_key is None) == (self.ed25519_key is None):
            raise ValueError("give exactly one of `hmac_key` or `ed25519_key`")
        return self


class AuditConfig(StrictModel):
    """Where and how the audit trail is written (see docs/audit.md)."""

    path: Path = Path("audit/mcp-gate.jsonl")
    rotate: RotateConfig = Field(default_factory=RotateConfig)
    fsync: Literal["always", "batch", "never"] = "batch"
    """``always``: every record is on disk before ``write`` returns; ``batch``: at most
    100 ms later (and at once for rules with ``audit: sync``); ``never``: when the OS decides."""
    checkpoint: CheckpointConfig | None = None
    otel: bool = False
    """Also export records as OpenTelemetry logs (OTLP/HTTP, set up by the OTEL_* variables);
    needs ``pip install 'mcp-gate[otel]'``."""

    @field_validator("rotate", mode="before")
    @classmethod
    def _no_rotation(cls, value: Any) -> Any:
        return {} if value is None else value

    def log_path(self, base_dir: Path) -> Path:
        """The log file, with a relative ``path`` taken relative to the policy file's folder."""
        return self.path if self.path.is_absolute() else base_dir / self.path

    def key_path(self, base_dir: Path) -> Path | None:
        """The Ed25519 key file, resolved like ``path``."""
        key = self.checkpoint.ed25519_key if self.checkpoint else None
        if key is None:
            return None
        return key if key.is_absolute() else base_dir / key


# --------------------------------------------------------------------------- the whole file


class Config(StrictModel):
    """A whole policies.yaml."""

    version: Literal[1]
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    upstreams: dict[str, UpstreamConfig]
    approvals: ApprovalsConfig = Field(default_factory=ApprovalsConfig)
    masking: MaskingConfig = Field(default_factory=MaskingConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    rules: list[Rule] = Field(default_factory=list)
    default: Action = "approve"
    hide_denied: bool = True
    separator: str = Field(default="__", min_length=1, max_length=8)

    source: Path = Field(default=Path("policies.yaml"), exclude=True)
    """The file this config was read from; relative paths in it are relative to its folder."""

    @field_validator("version", mode="before")
    @classmethod
    def _supported_version(cls, value: Any) -> Any:
        if value != 1:
            raise ValueError("this mcp-gate reads policy files of version 1 (write `version: 1`)")
        return value

    @field_validator("upstreams")
    @classmethod
    def _upstream_names(cls, value: dict[str, UpstreamConfig]) -> dict[str, UpstreamConfig]:
        if not value:
            raise ValueError("configure at least one upstream server")
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"upstream name {name!r} may use only letters, digits, '_', '-' and '.'")
        return value

    @field_validator("separator")
    @classmethod
    def _separator_chars(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
            raise ValueError("the separator may use only letters, digits, '_', '-' and '.' (MCP tool-name characters)")
        return value

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the file are resolved against."""
        return self.source.absolute().parent

    def rule_id(self, index: int) -> str:
        """A rule's id, or ``rules[i]`` when it has none, for messages and the audit log."""
        return self.rules[index].id or f"rules[{index}]"


# --------------------------------------------------------------------------- loading


class ConfigError(Exception):
    """The config could not be loaded; ``problems`` lists every ``FILE:LINE: path: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class _Located:
    file: str
    document: YamlDocument
    upstreams_key: str = "upstreams"
    """How the file spelled the upstreams block, so errors quote the user's own key."""

    def format(self, line: int | None, path: tuple[str | int, ...], message: str) -> str:
        where = f"{self.file}:{line}" if line is not None else self.file
        if path[:1] == ("upstreams",):
            path = (self.upstreams_key,) + path[1:]
        dotted = format_path(path)
        return f"{where}: {dotted}: {message}" if dotted else f"{where}: {message}"


def format_path(path: tuple[str | int, ...]) -> str:
    """``("rules", 2, "match", "tool")`` → ``rules[2].match.tool``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def builtin_variables(source: Path) -> dict[str, str]:
    """Variables every policy file may use without setting them in the environment."""
    return {
        "MCP_GATE_PYTHON": sys.executable,
        "CONFIG_DIR": str(source.resolve().parent),
    }


def _pydantic_problems(located: _Located, error: ValidationError) -> list[str]:
    problems: list[tuple[int, str]] = []
    for item in error.errors(include_input=False, include_url=False):
        loc = tuple(part for part in item["loc"] if part not in ("function-after", "function-before"))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}" if loc else "unknown key"
        elif item["type"] == "missing":
            message = "required"
        line = located.document.line_of(loc)
        problems.append((line or 0, located.format(line, loc, message)))
    return [text for _, text in sorted(problems, key=lambda item: item[0])]


def parse_config(text: str, source: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Validate policy-file text.  Raises ``ConfigError`` listing every problem found."""
    env = {**builtin_variables(source), **(os.environ if environ is None else environ)}
    document = parse_yaml(text, env)
    located = _Located(str(source), document)
    problems = [located.format(e.line, e.path, e.message) for e in document.errors]
    data = document.data
    if not problems and not isinstance(data, dict):
        problems.append(located.format(1, (), "the policy file must be a mapping (version, upstreams, rules, …)"))
    if problems:
        raise ConfigError(problems)

    given = [key for key in UPSTREAM_KEY_ALIASES if key in data]
    if len(given) > 1:
        line = document.line_of((given[1],))
        raise ConfigError([located.format(line, (given[1],), f"give upstreams once: found both {given[0]!r} and {given[1]!r}")])
    if given and given[0] != "upstreams":
        document.rename_key(given[0], "upstreams")
        located.upstreams_key = given[0]
    if "source" in data:
        raise ConfigError([located.format(document.line_of(("source",)), ("source",), "unknown key 'source'")])

    try:
        config = Config.model_validate({**data, "source": source})
    except ValidationError as exc:
        raise ConfigError(_pydantic_problems(located, exc)) from None
    problems = [located.format(located.document.line_of(path), path, message) for path, message in _cross_checks(config)]
    if problems:
        raise ConfigError(problems)
    return config


def _cross_checks(config: Config) -> list[tuple[tuple[str | int, ...], str]]:
    """Checks that span sections: each problem as (path, message)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    seen: dict[str, int] = {}
    channels = config.approvals.channels
    configured = {"client", "api"} | {name for name in ("slack", "teams", "webhook") if getattr(channels, name) is not None}
    for index, rule in enumerate(config.rules):
        if rule.id is not None:
            if rule.id in seen:
                problems.append((("rules", index, "id"), f"rule id {rule.id!r} is already used by rules[{seen[rule.id]}]"))
            else:
                seen[rule.id] = index
        for position, channel in enumerate(rule.via or []):
            if channel not in configured:
                problems.append(
                    (("rules", index, "via", position), f"channel {channel!r} is not configured under approvals.channels")
                )
        if isinstance(rule.approvers, str) and rule.approvers != "client" and rule.approvers not in config.approvals.approvers:
            problems.append((("rules", index, "approvers"), f"no approver group {rule.approvers!r} in approvals.approvers"))
        if rule.action == "approve" and rule.via == ["client"] and (rule.separate_requester or rule.quorum > 1):
            problems.append(
                (
                    ("rules", index, "via"),
                    "the agent's own client cannot satisfy separate_requester or a quorum above 1; add another channel",
                )
            )
    agent_tokens = {token.sha256 for token in config.identity.tokens}
    for index, token in enumerate(config.approvals.tokens):
        if token.sha256 in agent_tokens:
            problems.append(
                (("approvals", "tokens", index, "sha256"), "an agent's token (identity.tokens) can never decide approvals")
            )
    return problems


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a policy file.  Raises ``ConfigError`` (never a bare traceback)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{source}: no such file (pass -c PATH or create policies.yaml)"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{source}: not UTF-8 text"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read: {exc.strerror}"]) from None
    return parse_config(text, source, environ)


__all__ = [
    "Action",
    "ApprovalsConfig",
    "ApproverToken",
    "ArgCondition",
    "AuditConfig",
    "BearerToken",
    "CheckpointConfig",
    "Config",
    "ConfigError",
    "CustomEntity",
    "IdentityConfig",
    "MASKING_ENTITIES",
    "MaskOverride",
    "MaskingConfig",
    "Match",
    "RotateConfig",
    "Rule",
    "SourceError",
    "UpstreamConfig",
    "format_path",
    "load_config",
    "parse_config",
]
