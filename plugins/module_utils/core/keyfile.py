# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""What the local store's key and the migration backup key have in common.

Both are 32 random bytes written as base64 (or hex) in a file or an environment variable, and both
files are trusted the way ssh and gpg trust theirs: a key or a store that another user owns, or that
group or others can change, may have been planted to make us encrypt into a store the attacker reads;
a key that group or others can read is no longer a secret. The checks compare with the effective
user id, so a run as root over files root owns passes, and each refusal names the path, its owner and
mode and the command that fixes it.

A key file is created durably (file and folder fsync'ed before the first value is sealed with it),
0600 in a 0700 folder, atomically, and the first writer wins: forks that race all use one key.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import stat
import tempfile
from typing import NoReturn, Optional

from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import SecretError

KEY_BYTES = 32
#: a key file is one line; anything much longer is not a key file (and is not read into memory)
_MAX_KEY_FILE = 4096
GENERATE_HINT = "python3 -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())'"


class KeyFileError(SecretError):
    """A key (or key file) that is missing, unreadable or not 32 bytes in base64 or hex."""

    kind = "invalid"


class PathError(SecretError):
    """A folder that cannot be created where a key or store must go."""

    kind = "invalid"


class UntrustedFile(SecretError):
    """A key, store or folder that another user could have planted, changed or read."""

    kind = "untrusted"


def key_id(key: bytes, label: bytes) -> str:
    """Short public name of a key (16 hex digits): tells keys apart in messages, reveals nothing."""
    return hashlib.sha256(label + b"\0" + key).hexdigest()[:16]


def key_check(key: bytes, label: bytes) -> str:
    """HMAC of a fixed label under the key: proves a key is the right one without storing it."""
    return hmac.new(key, label, hashlib.sha256).hexdigest()


def encode_key(key: bytes) -> bytes:
    return base64.b64encode(key) + b"\n"


def decode_key(text: str) -> bytes:
    """32 bytes from base64 or hex text; KeyFileError says what is wrong, never what the text is."""
    text = text.strip()
    if not text:
        raise KeyFileError("is empty")
    if len(text) == 2 * KEY_BYTES:
        try:
            return binascii.unhexlify(text)
        except binascii.Error:
            pass
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise KeyFileError(f"is not 32 bytes in base64 or hex: it holds {len(text)} characters that are neither"
                           " (a key is 44 characters of base64 or 64 of hex)") from None
    if len(raw) != KEY_BYTES:
        raise KeyFileError(f"is not 32 bytes in base64 or hex: it decodes to {len(raw)} bytes"
                           " (a key is 44 characters of base64 or 64 of hex)")
    return raw


def random_key() -> bytes:
    return os.urandom(KEY_BYTES)


# trust -------------------------------------------------------------------------------------------
def _owner_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def _me() -> str:
    uid = os.geteuid()
    return f"{_owner_name(uid)} (uid {uid})"


def _trusted_owner(uid: int) -> bool:
    return uid in (os.geteuid(), 0)


def check_file(path: str, info: os.stat_result, *, what: str, private: bool,
               provider: Optional[str] = None) -> None:
    """Refuse a file another user owns, that group/others can write, or (``private``) can read.

    ``info`` comes from fstat of the open file where there is one, so what is checked is what is read.
    """
    mode = stat.S_IMODE(info.st_mode)
    if _trusted_owner(info.st_uid) and not mode & (0o077 if private else 0o022):
        return  # the usual case, decided without a passwd lookup
    shown = f"owner {_owner_name(info.st_uid)}, mode {mode:04o}"
    if not _trusted_owner(info.st_uid):
        raise UntrustedFile(
            f"refusing the {what} {path}: it belongs to another user ({shown}; this run is {_me()}),"
            " who could have planted or replaced it",
            provider=provider,
            hint=f"If it is yours, fix it with: chown {_owner_name(os.geteuid())} {path}; if it is not,"
                 " move it away and find out who put it there",
        )
    if mode & 0o022:
        raise UntrustedFile(
            f"refusing the {what} {path}: group or others can write to it ({shown})",
            provider=provider,
            hint=f"Fix it with: chmod {'600' if private else 'go-w'} {path}",
        )
    if private and mode & 0o077:
        raise UntrustedFile(
            f"refusing the {what} {path}: group or others can read it ({shown})",
            provider=provider,
            hint=f"Fix it with: chmod 600 {path}; anyone who could read it may have a copy of the key,"
                 " so re-key afterwards (playbooks/rekey.yml)",
        )


def check_folder(path: str, *, what: str, provider: Optional[str] = None) -> None:
    """Refuse a folder another user owns or that group/others can write: they could plant files in it.

    A missing folder passes (it is created 0700 by the first write).
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UntrustedFile(f"cannot check the {what} {path}: {exc.strerror}", provider=provider,
                            hint="Check the path and its permissions")
    if not stat.S_ISDIR(info.st_mode):
        raise UntrustedFile(f"the {what} {path} is not a folder", provider=provider,
                            hint="Give a path whose folder exists or can be created")
    mode = stat.S_IMODE(info.st_mode)
    if _trusted_owner(info.st_uid) and not mode & 0o022:
        return
    shown = f"owner {_owner_name(info.st_uid)}, mode {mode:04o}"
    if not _trusted_owner(info.st_uid):
        raise UntrustedFile(
            f"refusing the {what} {path}: it belongs to another user ({shown}; this run is {_me()}),"
            " who could plant a key or a store in it",
            provider=provider,
            hint=f"Use a folder of your own, or fix it with: chown {_owner_name(os.geteuid())} {path}",
        )
    if mode & 0o022:
        raise UntrustedFile(
            f"refusing the {what} {path}: group or others can write to it ({shown}), so they could plant"
            " a key or a store in it",
            provider=provider,
            hint=f"Fix it with: chmod go-w {path} (or chmod 700 {path}), or use a private folder",
        )


# durable files -----------------------------------------------------------------------------------
def fsync_folder(path: str) -> None:
    """Make a new or renamed directory entry survive a power cut (no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def make_private_folder(path: str, *, what: str, provider: Optional[str] = None) -> None:
    """Create ``path`` and missing parents 0700, each made durable in its parent."""
    path = os.path.abspath(path)
    missing = []
    probe = path
    while not os.path.isdir(probe):
        # another process may make the folder between the two checks (two forks' first run on one store)
        if os.path.lexists(probe) and not os.path.isdir(probe):
            _not_a_folder(what, path, probe, provider)
        missing.append(probe)
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue
        except OSError as exc:
            raise PathError(
                f"cannot create the {what} {folder}: {exc.strerror}", provider=provider,
                hint=f"Create it yourself (mkdir -m 700 {folder}) or choose a path you can write",
            )
        fsync_folder(os.path.dirname(folder))
    if not os.path.isdir(path):  # something other than a folder was put there while we made its parents
        _not_a_folder(what, path, path, provider)


def _not_a_folder(what: str, path: str, probe: str, provider: Optional[str]) -> NoReturn:
    raise PathError(f"cannot create the {what} {path}: {probe} exists and is not a folder",
                    provider=provider, hint="Fix the path (local_path, key file or backup folder)")


def read_key_file(path: str, *, what: str, hint: Optional[str] = None, provider: Optional[str] = None,
                  check_trust: bool = True) -> bytes:
    """The key in ``path``, after checking (on the open file) that nobody else could have put it there."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise  # the caller knows whether a missing key is an error
    except OSError as exc:
        raise KeyFileError(f"cannot read the {what} {path}: {exc.strerror}", provider=provider,
                           hint="Check its owner and mode (it should be yours, mode 600)")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"the {what} {path} is not a regular file", provider=provider, hint=hint)
        if check_trust:
            check_file(path, info, what=what, private=True, provider=provider)
        data = os.read(fd, _MAX_KEY_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_KEY_FILE:
        raise KeyFileError(f"the {what} {path} is over {_MAX_KEY_FILE} bytes: it is not a key file",
                           provider=provider, hint=hint)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise KeyFileError(f"the {what} {path} is not text: it holds a non-ASCII byte at offset {exc.start}"
                           " (damaged, or another kind of file)", provider=provider, hint=hint)
    try:
        return decode_key(text)
    except KeyFileError as exc:
        raise KeyFileError(f"the {what} {path} {exc.reason}", provider=provider, hint=hint)


def write_key_file(path: str, key: bytes, *, what: str, provider: Optional[str] = None,
                   replace: bool = False) -> bool:
    """Write ``key`` to ``path`` durably, 0600 in a 0700 folder; True if this call's key is the one there.

    Without ``replace`` the first writer wins (a hard link never replaces a file); with it the file is
    swapped atomically (rename). The file and its folder are fsync'ed before this returns, so the key
    is on disk before anything is sealed with it.
    """
    folder = os.path.dirname(os.path.abspath(path))
    make_private_folder(folder, what=f"folder of the {what}", provider=provider)
    try:
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".key-", suffix=".tmp")
    except OSError as exc:
        raise KeyFileError(f"cannot write the {what} {path}: {exc.strerror}", provider=provider,
                           hint=f"The folder {folder} must be writable by this user")
    won = True
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(encode_key(key))
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                if os.path.islink(path) and not os.path.exists(path):
                    # the key is meant to live where the link points; a key made beside it would not be found
                    raise KeyFileError(
                        f"cannot write the {what} {path}: it is a symbolic link to {os.readlink(path)}, which does"
                        " not exist", provider=provider,
                        hint="Mount or restore the file the link points to, or remove the link to make a new key")
                won = False
    except OSError as exc:
        raise KeyFileError(f"cannot write the {what} {path}: {exc.strerror}", provider=provider,
                           hint=f"The folder {folder} must be writable by this user")
    finally:
        try:
            os.unlink(temporary)
        except OSError:
            pass
    fsync_folder(folder)
    return won


def create_key_file(path: str, *, what: str, hint: Optional[str] = None, provider: Optional[str] = None) -> bytes:
    """A new random key in ``path`` unless another process made one first; returns the key in the file."""
    write_key_file(path, random_key(), what=what, provider=provider)
    return read_key_file(path, what=what, hint=hint, provider=provider)


def set_aside(path: str, keep_as: str, key: bytes, *, what: str, provider: Optional[str] = None) -> None:
    """Move ``path`` to ``keep_as`` when it holds ``key`` (a leftover copy of the key in use), freeing ``path``
    for a new key; a file that holds another key stays where it is.

    The file is claimed by a rename first, so a new key that a concurrent run wrote at ``path`` in the
    meantime is put back, never deleted; ``keep_as`` is never replaced.
    """
    claim = f"{path}.{os.getpid()}-{secrets.token_hex(4)}.claim"
    try:
        os.rename(path, claim)
    except FileNotFoundError:
        return  # another run set it aside first
    try:
        if read_key_file(claim, what=what, provider=provider) == key:
            try:
                os.link(claim, keep_as)
            except FileExistsError:
                if read_key_file(keep_as, what=what, provider=provider) != key:
                    raise KeyFileError(f"{keep_as} exists and holds another key", provider=provider,
                                       hint="Move it away, then run again")
            os.unlink(claim)
            fsync_folder(os.path.dirname(os.path.abspath(path)))
            return
    except BaseException:
        _put_back(claim, path, what, provider)
        raise
    _put_back(claim, path, what, provider)


def _put_back(claim: str, path: str, what: str, provider: Optional[str]) -> None:
    """Return a claimed key file to ``path``; when a new one took its place meanwhile, both stay (no key is lost)."""
    try:
        os.link(claim, path)
    except FileExistsError:
        raise KeyFileError(f"another run wrote a new key to {path} while this one set the {what} aside; the key that"
                           f" was there is kept in {claim}", provider=provider,
                           hint="Let the other run finish, keep both files, and run again") from None
    os.unlink(claim)
