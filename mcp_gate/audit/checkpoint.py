"""Keys that sign and verify checkpoints: HMAC-SHA256 or Ed25519.

A checkpoint is a record whose ``sig`` covers its own ``prev``, so it vouches for
the whole chain before it.  Someone who rewrites the log and recomputes every
hash still cannot produce valid signatures without the key.  HMAC needs the
same secret to verify; Ed25519 lets an auditor verify with the public key only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)


class KeyFileError(ValueError):
    """A key file could not be read or is not a usable key."""


class VerifyKey(Protocol):
    """What verification needs: the algorithm, the key's id and a check."""

    @property
    def alg(self) -> str: ...

    @property
    def key_id(self) -> str: ...

    def verify(self, payload: bytes, sig: str) -> bool: ...


class SigningKey(VerifyKey, Protocol):
    """A key the writer can also sign with."""

    def sign(self, payload: bytes) -> str: ...


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key_id(material: bytes) -> str:
    return hashlib.sha256(material).hexdigest()[:16]


@dataclass(frozen=True)
class HmacKey:
    """A shared secret; its id is a hash of the secret, which reveals nothing usable."""

    secret: bytes
    alg = "hmac-sha256"

    @property
    def key_id(self) -> str:
        return _key_id(b"mcp-gate checkpoint key\0" + self.secret)

    def sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self.secret, payload, hashlib.sha256).digest())

    def verify(self, payload: bytes, sig: str) -> bool:
        return hmac.compare_digest(self.sign(payload), sig)


@dataclass(frozen=True)
class Ed25519VerifyKey:
    """An Ed25519 public key: verifies, cannot sign."""

    public: Ed25519PublicKey
    alg = "ed25519"

    @property
    def key_id(self) -> str:
        return _key_id(self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))

    def verify(self, payload: bytes, sig: str) -> bool:
        try:
            self.public.verify(_unb64(sig), payload)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Ed25519SigningKey:
    """An Ed25519 private key; verifying uses its public half."""

    private: Ed25519PrivateKey
    alg = "ed25519"

    @property
    def verify_key(self) -> Ed25519VerifyKey:
        return Ed25519VerifyKey(self.private.public_key())

    @property
    def key_id(self) -> str:
        return self.verify_key.key_id

    def sign(self, payload: bytes) -> str:
        return _b64(self.private.sign(payload))

    def verify(self, payload: bytes, sig: str) -> bool:
        return self.verify_key.verify(payload, sig)


def load_signing_key(hmac_secret: str | None, ed25519_file: Path | None) -> SigningKey:
    """The writer's key from the config: an HMAC secret or an Ed25519 PEM private-key file."""
    if hmac_secret is not None:
        return HmacKey(hmac_secret.encode())
    assert ed25519_file is not None
    key = _load_pem(ed25519_file)
    if not isinstance(key, Ed25519SigningKey):
        raise KeyFileError(f"{ed25519_file}: not an Ed25519 private key")
    return key


def load_verify_key(path: Path) -> VerifyKey:
    """A key file for ``audit verify``: an Ed25519 PEM key (public or private), else an HMAC secret."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if data.lstrip().startswith(b"-----BEGIN"):
        return _load_pem(path)
    secret = data.strip()
    if not secret:
        raise KeyFileError(f"{path}: the key file is empty")
    return HmacKey(secret)


def _load_pem(path: Path) -> Ed25519SigningKey | Ed25519VerifyKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        if b"PRIVATE KEY" in data:
            private = serialization.load_pem_private_key(data, password=None)
            if isinstance(private, Ed25519PrivateKey):
                return Ed25519SigningKey(private)
        else:
            public = serialization.load_pem_public_key(data)
            if isinstance(public, Ed25519PublicKey):
                return Ed25519VerifyKey(public)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a PEM key: {exc}") from None
    raise KeyFileError(f"{path}: not an Ed25519 key")
