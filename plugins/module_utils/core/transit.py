# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Vault and OpenBao transit keys: rotate a key, re-wrap ciphertexts to its newest version, and stop old
versions from decrypting.

Why it is its own module and not a provider: transit stores nothing. The key never leaves Vault; the
ciphertexts live in the user's data (a database column, a file, or secrets of the collection). What
an encryption-key rotation needs from it is three operations on one key, so they are here, and the
connection, login options and error translation are the vault provider's (``VaultBackend`` built by
``from_options`` and ``vault.client_call``), so a token, AppRole or any later login works here too.

Idempotence: a ciphertext says which key version made it (``vault:v3:...``). Only ciphertexts older
than the key's newest version are sent to ``rewrap``; the others are returned unchanged, so a second
re-wrap changes nothing and check mode counts what would change without a request beyond the key's
read. Ciphertexts and plaintexts never appear in an error or a result: items are named by position.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import (
    InvalidOption,
    SecretError,
    SecretNotFound,
)

DEFAULT_MOUNT = "transit"
#: the vault provider option that names the key (a transit operation happens only when it is set)
TRANSIT_KEY_OPTION = "vault_transit_key"
#: ciphertexts per rewrap request (transit's batch_input); big enough to make 1,000 items 4 requests,
#: small enough that one request stays far below Vault's default 32 MiB request limit
DEFAULT_BATCH_SIZE = 250
MAX_BATCH_SIZE = 10000
_CIPHERTEXT = re.compile(r"^[a-z]+:v([0-9]+):[A-Za-z0-9+/=]+$")
_KEY_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def ciphertext_version(ciphertext: Any, where: str) -> int:
    """The key version a transit ciphertext was made with (the N of ``vault:vN:``).

    Checked before any request so that one malformed item fails the task before anything is
    re-wrapped; ``where`` names the item (its position or secret), never its content.
    """
    match = _CIPHERTEXT.match(ciphertext) if isinstance(ciphertext, str) else None
    if match is None:
        raise InvalidOption(
            f"{where} is not a transit ciphertext (expected 'vault:v<version>:<base64>')",
            hint="Give ciphertexts made by the transit engine's encrypt endpoint (or by rewrap), not plaintexts",
        )
    return int(match.group(1))


def check_key_name(key: Any) -> None:
    """vault_transit_key is set and is a key name, checked before any connection."""
    if not key:
        raise InvalidOption("vault_transit_key is required for a transit operation", provider="vault",
                            hint="Set vault_transit_key (VAULT_TRANSIT_KEY) to the name of the transit key")
    if not _KEY_NAME.match(str(key)):
        raise InvalidOption(
            f"vault_transit_key must name a transit key (letters, digits, _ . -), got '{key}'",
            provider="vault", hint="Set vault_transit_key (VAULT_TRANSIT_KEY) to the key's name",
        )


def _born(created: Any) -> Optional[float]:
    """Creation time of one key version: epoch seconds, RFC 3339, or a map with creation_time (asymmetric keys)."""
    if isinstance(created, Mapping):
        created = created.get("creation_time")
    if isinstance(created, (int, float)) and not isinstance(created, bool):
        return float(created)
    if isinstance(created, str) and created:
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers.vault import parse_time

        moment = parse_time(created)
        return None if moment is None else moment.timestamp()
    return None


@dataclass
class KeyState:
    """What the key's read says, as numbers: versions and their creation times (epoch seconds)."""

    name: str
    latest_version: int
    min_decryption_version: int
    min_encryption_version: int = 0
    created: Dict[int, Optional[float]] = field(default_factory=dict)

    @classmethod
    def from_read(cls, name: str, data: Mapping[str, Any]) -> "KeyState":
        keys = data.get("keys") or {}
        created = {int(version): _born(item) for version, item in keys.items()}
        latest = int(data.get("latest_version") or (max(created) if created else 1))
        return cls(
            name=name,
            latest_version=latest,
            min_decryption_version=int(data.get("min_decryption_version") or 1),
            min_encryption_version=int(data.get("min_encryption_version") or 0),
            created=created,
        )

    def created_at(self, version: int) -> Optional[_dt.datetime]:
        moment = self.created.get(version)
        return None if moment is None else _dt.datetime.fromtimestamp(moment, _dt.timezone.utc)

    def to_dict(self) -> Dict[str, Any]:
        return dict(name=self.name, latest_version=self.latest_version,
                    min_decryption_version=self.min_decryption_version,
                    min_encryption_version=self.min_encryption_version)


@dataclass
class RewrapResult:
    """The re-wrapped list (same order and length as the input) and what changed."""

    ciphertexts: List[str]
    total: int
    rewrapped: int
    already_current: int
    key_version: int
    requests: int = 0
    #: positions of the items that changed (or would change, in check mode)
    changed_items: List[int] = field(default_factory=list)


class TransitKey:
    """One transit key reached with the vault provider's connection and login."""

    def __init__(self, backend: Any, key: str, mount: Optional[str] = None) -> None:
        check_key_name(key)
        self.backend = backend
        self.key = str(key)
        self.mount = (mount or DEFAULT_MOUNT).strip("/")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "TransitKey":
        """The key named by vault_transit_key on vault_transit_mount, logged in with the vault options.

        The options are checked before the backend is built, so a missing key name fails before any
        request and names the option.
        """
        key = options.get("vault_transit_key")
        check_key_name(key)
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers.vault import VaultBackend

        return cls(VaultBackend.from_options(options), key, options.get("vault_transit_mount"))

    @property
    def label(self) -> str:
        return f"transit key '{self.key}' at mount '{self.mount}'"

    def _call(self, call: Any, api: str, capability: str, explain: Any = None, suffix: str = "") -> Any:
        """One request; ``api``/``suffix`` make the API path that errors name (what a policy must allow)."""
        from ansible_collections.vibebox.secrets.plugins.module_utils.providers import vault

        return vault.client_call(self.backend, call, api_path=f"{self.mount}/{api}/{self.key}{suffix}",
                                 capability=capability, name=self.key, explain=explain)

    def _transit(self, client: Any) -> Any:
        return client.secrets.transit

    # reads ------------------------------------------------------------------------------------------
    def state(self, missing_ok: bool = False) -> Optional[KeyState]:
        """The key's versions; None when it does not exist and ``missing_ok``."""
        try:
            answer = self._call(lambda c: self._transit(c).read_key(name=self.key, mount_point=self.mount),
                                "keys", "read")
        except SecretNotFound:
            if missing_ok:
                return None
            raise SecretNotFound(
                f"the {self.label} does not exist", provider="vault", provider_name=self.key,
                hint="Check vault_transit_key and vault_transit_mount (and that the token may read"
                     f" {self.mount}/keys/{self.key}); set create: true to create the key",
            ) from None
        return KeyState.from_read(self.key, (answer or {}).get("data") or {})

    # writes -----------------------------------------------------------------------------------------
    def create(self) -> KeyState:
        self._call(lambda c: self._transit(c).create_key(name=self.key, mount_point=self.mount), "keys", "update")
        return self.state()  # type: ignore[return-value]

    def rotate(self) -> KeyState:
        """Add a new key version: new encryptions use it; older versions still decrypt until
        ``raise_min_decryption_version``."""
        self._call(lambda c: self._transit(c).rotate_key(name=self.key, mount_point=self.mount), "keys", "update",
                   suffix="/rotate")
        return self.state()  # type: ignore[return-value]

    def raise_min_decryption_version(self, version: int) -> KeyState:
        """Stop every version below ``version`` from decrypting (never lowers it)."""
        self._call(
            lambda c: self._transit(c).update_key_configuration(
                name=self.key, min_decryption_version=int(version), mount_point=self.mount),
            "keys", "update", suffix="/config",
        )
        return self.state()  # type: ignore[return-value]

    def rewrap(self, ciphertexts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE, check_mode: bool = False,
               labels: Optional[Sequence[str]] = None, state: Optional[KeyState] = None) -> RewrapResult:
        """Re-wrap every ciphertext older than the key's newest version, ``batch_size`` per request.

        Every item is checked first (a malformed one fails before any request); items already on the
        newest version are returned as they are. ``labels`` name the items in errors (a secret's name);
        by default an item is named by its position.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise InvalidOption(f"batch_size must be 1 to {MAX_BATCH_SIZE} (got {batch_size})")
        names = list(labels) if labels is not None else [f"ciphertext {index + 1}" for index in range(len(ciphertexts))]
        versions = [ciphertext_version(text, names[index]) for index, text in enumerate(ciphertexts)]
        state = state or self.state()
        newer = [(index, version) for index, version in enumerate(versions) if version > state.latest_version]
        if newer:
            index, version = newer[0]
            raise InvalidOption(
                f"{names[index]} was made with version {version} of the {self.label}, whose newest version is"
                f" {state.latest_version}", provider="vault", provider_name=self.key,
                hint="It was made with another key of the same name (another Vault, a recreated key): check"
                     " vault_addr, vault_transit_mount and vault_transit_key",
            )
        retired = [index for index, version in enumerate(versions) if version < state.min_decryption_version]
        if retired:
            raise self._item_error(names[retired[0]], "too old")
        stale = [index for index, version in enumerate(versions) if version < state.latest_version]
        result = RewrapResult(ciphertexts=list(ciphertexts), total=len(ciphertexts), rewrapped=len(stale),
                              already_current=len(ciphertexts) - len(stale), key_version=state.latest_version,
                              changed_items=list(stale))
        if check_mode or not stale:
            return result
        for start in range(0, len(stale), batch_size):
            chunk = stale[start:start + batch_size]
            batch = [{"ciphertext": ciphertexts[index]} for index in chunk]
            answer = self._call(
                lambda c, b=batch: self._transit(c).rewrap_data(name=self.key, ciphertext="", batch_input=b,
                                                                mount_point=self.mount),
                "rewrap", "update", explain=lambda status, exc, ch=chunk: self._batch_error(status, exc, ch, names),
            )
            result.requests += 1
            items = ((answer or {}).get("data") or {}).get("batch_results") or []
            if len(items) != len(chunk):
                raise SecretError(f"the rewrap of {len(chunk)} ciphertexts answered {len(items)} results",
                                  provider="vault", provider_name=self.key)
            for index, item in zip(chunk, items):
                if item.get("error") or not item.get("ciphertext"):
                    raise self._item_error(names[index], item.get("error"))
                result.ciphertexts[index] = item["ciphertext"]
        return result

    def _item_error(self, label: str, said: Any) -> SecretError:
        text = str(said or "no ciphertext in the answer")
        if "too old" in text or "disallowed by policy" in text:
            return InvalidOption(
                f"{label} was made with a version of the {self.label} that no longer decrypts"
                " (below min_decryption_version): it cannot be re-wrapped", provider="vault", provider_name=self.key,
                hint="Its data is lost unless min_decryption_version is lowered again (vault write"
                     f" {self.mount}/keys/{self.key}/config min_decryption_version=N) while the old version still exists",
            )
        return InvalidOption(f"Vault could not re-wrap {label} with the {self.label} ({text[:200]})",
                             provider="vault", provider_name=self.key)

    def _batch_error(self, status: int, exc: Any, chunk: Sequence[int], names: Sequence[str]) -> Optional[SecretError]:
        """A batch answered 400 because some items failed: name the first one (by position, never content)."""
        body = getattr(exc, "json", None) or {}
        items = ((body.get("data") or {}).get("batch_results") or []) if isinstance(body, dict) else []
        for index, item in zip(chunk, items):
            if isinstance(item, dict) and item.get("error"):
                return self._item_error(names[index], item.get("error"))
        said = " ".join(str(item) for item in (getattr(exc, "errors", None) or []))
        if status == 400 and ("too old" in said or "disallowed by policy" in said):
            return self._item_error("a ciphertext", said)
        return None

    # encrypt/decrypt: what tests and the re-encryption of data need ---------------------------------
    def encrypt(self, plaintexts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE) -> List[str]:
        import base64

        out: List[str] = []
        for start in range(0, len(plaintexts), batch_size):
            batch = [{"plaintext": base64.b64encode(text.encode("utf-8")).decode("ascii")}
                     for text in plaintexts[start:start + batch_size]]
            answer = self._call(
                lambda c, b=batch: self._transit(c).encrypt_data(name=self.key, batch_input=b, mount_point=self.mount),
                "encrypt", "update",
            )
            out.extend(item["ciphertext"] for item in answer["data"]["batch_results"])
        return out

    def decrypt(self, ciphertexts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE) -> List[str]:
        """Plaintexts of the ciphertexts; a version below min_decryption_version fails with a message
        that says so (Vault's own answer is 'ciphertext or signature version is disallowed by policy')."""
        import base64

        labels = [f"ciphertext {index + 1}" for index in range(len(ciphertexts))]
        versions = [ciphertext_version(text, labels[index]) for index, text in enumerate(ciphertexts)]
        out: List[str] = []
        for start in range(0, len(ciphertexts), batch_size):
            chunk = list(range(start, min(start + batch_size, len(ciphertexts))))
            batch = [{"ciphertext": ciphertexts[index]} for index in chunk]
            answer = self._call(
                lambda c, b=batch: self._transit(c).decrypt_data(name=self.key, batch_input=b, mount_point=self.mount),
                "decrypt", "update",
                explain=lambda status, exc, ch=chunk: self._decrypt_error(status, exc, ch, labels, versions),
            )
            for index, item in zip(chunk, answer["data"]["batch_results"]):
                if item.get("error"):
                    raise self._decrypt_error(400, None, [index], labels, versions, said=item["error"])
                out.append(base64.b64decode(item["plaintext"]).decode("utf-8"))
        return out

    def _decrypt_error(self, status: int, exc: Any, chunk: Sequence[int], labels: Sequence[str],
                       versions: Sequence[int], said: Optional[str] = None) -> Optional[SecretError]:
        body = getattr(exc, "json", None) or {}
        items = ((body.get("data") or {}).get("batch_results") or []) if isinstance(body, dict) else []
        found = [(index, item.get("error")) for index, item in zip(chunk, items) if isinstance(item, dict) and item.get("error")]
        if said is not None:
            found = [(chunk[0], said)]
        if not found:
            return None
        index, text = found[0]
        if "too old" in str(text) or "disallowed by policy" in str(text):
            return InvalidOption(
                f"{labels[index]} was made with version {versions[index]} of the {self.label}, which no longer"
                " decrypts: a cleanup raised the key's min_decryption_version above it after the grace period",
                provider="vault", provider_name=self.key,
                hint="Re-wrap data with vibebox.secrets.transit_rewrap before the cleanup; to read it now, lower"
                     f" min_decryption_version (vault write {self.mount}/keys/{self.key}/config"
                     f" min_decryption_version={versions[index]})",
            )
        return InvalidOption(f"Vault could not decrypt {labels[index]} with the {self.label} ({str(text)[:200]})",
                             provider="vault", provider_name=self.key)

    def close(self) -> None:
        self.backend.close()
