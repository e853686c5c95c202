"""The consortium definition: who the labs are and which kinds they match.

Parsed from and written to TOML text here; reading and writing the file is
the caller's job (the core touches no files). Each lab's Ed25519 and X25519
public keys are pinned in this definition, so the coordinator can never
substitute a key.
"""
from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field

from .budgets import budget_for
from .errors import ConsortiumError, IdentifierRefused
from .identifiers import match_kinds

__all__ = [
    "Consortium",
    "LabKeys",
    "LAB_NAME",
    "CONSORTIUM_ID",
    "MIN_LABS",
    "MAX_LABS",
    "validate_lab_name",
]

FORMAT_VERSION = 1
LAB_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
CONSORTIUM_ID = re.compile(r"[0-9a-f]{16}")
MIN_LABS = 2
MAX_LABS = 64
KEY_BYTES = 32


def validate_lab_name(name: str) -> str:
    if not isinstance(name, str) or not LAB_NAME.fullmatch(name):
        raise ConsortiumError(
            f"lab name {name!r} must match {LAB_NAME.pattern}")
    return name


@dataclass(frozen=True)
class LabKeys:
    """A lab's pinned public keys (32 bytes each)."""

    signing_key: bytes
    sealing_key: bytes


@dataclass(frozen=True)
class Consortium:
    consortium_id: str
    coordinator: str
    kinds: tuple[str, ...]
    labs: dict[str, LabKeys] = field(default_factory=dict)
    budgets: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not CONSORTIUM_ID.fullmatch(self.consortium_id):
            raise ConsortiumError("consortium_id must be 16 lowercase hex "
                                  "characters")
        if not self.kinds or len(set(self.kinds)) != len(self.kinds):
            raise ConsortiumError("kinds must be a non-empty list without "
                                  "repeats")
        if not MIN_LABS <= len(self.labs) <= MAX_LABS:
            raise ConsortiumError(
                f"a consortium has {MIN_LABS} to {MAX_LABS} labs, "
                f"not {len(self.labs)}")
        for name, keys in self.labs.items():
            validate_lab_name(name)
            if (len(keys.signing_key) != KEY_BYTES
                    or len(keys.sealing_key) != KEY_BYTES):
                raise ConsortiumError(f"lab {name}: public keys must be "
                                      f"{KEY_BYTES} bytes")

        try:
            enabled = set(match_kinds(self.kinds))
        except IdentifierRefused:
            raise ConsortiumError("kinds names a kind labmatch does not "
                                  "support") from None
        for kind, value in self.budgets.items():
            if kind not in enabled:
                raise ConsortiumError(f"budget for {kind!r}: not a match "
                                      f"kind this consortium enables")
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConsortiumError(f"budget for {kind} must be an integer")
            try:
                budget_for(kind, self.budgets)
            except ValueError as exc:
                raise ConsortiumError(str(exc)) from None

    def budget(self, kind: str) -> int:
        """Items one lab evaluates for one peer per epoch in ``kind``."""
        return budget_for(kind, self.budgets)

    def peers(self, lab: str) -> list[str]:
        """Every other lab, sorted."""
        if lab not in self.labs:
            raise ConsortiumError(f"lab {lab} is not a member")
        return sorted(name for name in self.labs if name != lab)

    @classmethod
    def from_toml(cls, text: str, *, source: str = "consortium file"):
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConsortiumError(f"{source}: not valid TOML ({exc})") from None
        try:
            if doc.get("version") != FORMAT_VERSION:
                raise ConsortiumError(f"version must be {FORMAT_VERSION}")
            labs = {
                name: LabKeys(bytes.fromhex(entry["signing_key"]),
                              bytes.fromhex(entry["sealing_key"]))
                for name, entry in doc["labs"].items()
            }
            return cls(
                consortium_id=doc["consortium_id"],
                coordinator=doc["coordinator"],
                kinds=tuple(doc["kinds"]),
                labs=labs,
                budgets=dict(doc.get("budgets", {})),
            )
        except KeyError as exc:
            raise ConsortiumError(f"{source}: missing field {exc}") from None
        except (TypeError, AttributeError, ValueError) as exc:
            if isinstance(exc, ConsortiumError):
                raise ConsortiumError(f"{source}: {exc}") from None
            raise ConsortiumError(f"{source}: malformed ({exc})") from None

    def to_toml(self) -> str:
        q = json.dumps  # a JSON string of ASCII is a valid TOML basic string
        lines = [
            "# labmatch consortium definition. Every lab's public keys are",
            "# pinned here; a copy travels with each lab directory.",
            f"version = {FORMAT_VERSION}",
            f"consortium_id = {q(self.consortium_id)}",
            f"coordinator = {q(self.coordinator)}",
            "kinds = [" + ", ".join(q(k) for k in self.kinds) + "]",
        ]
        if self.budgets:
            lines += ["", "# Items one lab evaluates for one peer per epoch.",
                      "[budgets]"]
            lines += [f"{q(kind)} = {value}"
                      for kind, value in sorted(self.budgets.items())]
        for name in sorted(self.labs):
            keys = self.labs[name]
            lines += [
                "",
                f"[labs.{q(name)}]",
                f"signing_key = {q(keys.signing_key.hex())}",
                f"sealing_key = {q(keys.sealing_key.hex())}",
            ]
        return "\n".join(lines) + "\n"
