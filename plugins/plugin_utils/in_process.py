# Internal plugin_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Run one of the collection's modules inside the controller's worker instead of a new Python.

Most secret writes target the controller itself (``hosts: localhost``, ``delegate_to: localhost``).
There, a module run costs a new Python interpreter that imports ``ansible.module_utils`` and the
collection again: about 0.5 s per task on a small machine, where the work itself (one or two backend
requests) takes a few milliseconds. The worker that runs the task already has all of it imported,
and within a ``loop`` the same worker runs every item, so the provider's SDK is imported once.

Only where the result cannot differ: the connection is ``local``, nothing is escalated with
``become``, the task is not ``async``, and the Python the module would run under *is* the
controller's own (``ansible_python_interpreter`` resolves to it, as it does for the implicit
localhost). Everywhere else, and when ``vibebox_secrets_in_process: false`` (variable) or
``VIBEBOX_SECRETS_IN_PROCESS=false`` (environment) asks for it, the module runs as usual.

How: the action plugin still calls ``ActionBase._execute_module``, so the arguments Ansible adds
(check mode, diff, no_log, verbosity), the task's environment and the parsing of the result stay
Ansible's own on every ansible-core release. The two hooks below only answer its last step: instead
of sending the module's payload to a new interpreter, the module's ``main()`` runs here with the
same arguments and environment, and its printed result is handed back as the command's output.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import sys
import traceback
from typing import Any, Dict, Mapping, Optional

from ansible.module_utils.parsing.convert_bool import boolean

#: the variable and environment variable that turn the in-process path off (the module path is then
#: used for every task, as on a remote host)
VARIABLE = "vibebox_secrets_in_process"
ENV = "VIBEBOX_SECRETS_IN_PROCESS"
#: the serialization profile of a module without metadata (all of this collection's)
_PROFILE = "legacy"


def _is_false(value: Any) -> bool:
    """Ansible's own reading of a boolean; anything it does not read as true keeps the module path."""
    return not boolean(value, strict=False)


def same_python(interpreter: Any, executable: Optional[str] = None) -> bool:
    """Whether ``interpreter`` (a templated ``ansible_python_interpreter``) is this very Python."""
    if not isinstance(interpreter, str) or not interpreter.strip():
        return False
    mine = executable or sys.executable
    candidate = interpreter.strip()
    if candidate == mine:
        return True
    try:
        return os.path.samefile(candidate, mine) or os.path.realpath(candidate) == os.path.realpath(mine)
    except OSError:
        return False


def missing_internals() -> Optional[str]:
    """What this ansible-core lacks of the non-public names the worker path relies on (None: nothing).

    They are stable from 2.17 to 2.21 (the version matrix runs the comparison test on each); a release
    that renames one gets the module run, with no error, instead of a half-working shortcut.
    """
    from ansible.module_utils import basic
    from ansible.module_utils.common import warnings as _warnings
    from ansible.plugins.action import ActionBase

    for owner, names in ((basic, ("_ANSIBLE_ARGS",)), (_warnings, ("_global_warnings", "_global_deprecations")),
                         (ActionBase, ("_is_pipelining_enabled", "_low_level_execute_command",
                                       "_compute_environment_string", "_execute_module"))):
        for name in names:
            if not hasattr(owner, name):
                return f"this ansible-core has no {owner.__name__}.{name}"
    return None


def refusal(*, connection: str, become: bool, is_async: bool, interpreter: Any,
            variables: Mapping[str, Any], environ: Mapping[str, str]) -> Optional[str]:
    """Why the module must run as usual (None when it may run in the worker)."""
    if VARIABLE in variables and _is_false(variables[VARIABLE]):
        return f"{VARIABLE} is false"
    if _is_false(environ.get(ENV, "true")):
        return f"{ENV} is false"
    if connection != "local":
        return f"the connection is {connection}"
    if become:
        return "the task uses become"
    if is_async:
        return "the task is async"
    if not same_python(interpreter):
        return "the target's Python is not the controller's"
    return missing_internals()


def module_path_of(action_module: str) -> str:
    """The import path of the module an action plugin stands for (``...plugins.action.secret`` -> ``...plugins.modules.secret``)."""
    head, sep, tail = action_module.rpartition(".plugins.action.")
    if not sep or not head.startswith("ansible_collections."):
        raise ValueError(f"{action_module} is not an action plugin of a collection")
    return f"{head}.plugins.modules.{tail}"


def _arguments_payload(module_args: Mapping[str, Any]) -> bytes:
    """The module's arguments as Ansible would encode them for this release's modules."""
    from ansible.module_utils.common import json as _ajson

    params = {"ANSIBLE_MODULE_ARGS": module_args}
    get_encoder = getattr(_ajson, "get_module_encoder", None)
    if get_encoder is not None:  # ansible-core 2.19 and later: serialization profiles
        encoder = get_encoder(_PROFILE, _ajson.Direction.CONTROLLER_TO_MODULE)
        return json.dumps(params, cls=encoder).encode("utf-8", errors="surrogateescape")
    return json.dumps(params, cls=_ajson.AnsibleJSONEncoder, vault_to_text=True).encode(
        "utf-8", errors="surrogateescape")


@contextlib.contextmanager
def _environment(extra: Mapping[str, Any]):
    saved = dict(os.environ)
    os.environ.update({str(key): str(value) for key, value in extra.items()})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_module(module_import_path: str, module_args: Mapping[str, Any], environment: Mapping[str, Any]) -> Dict[str, Any]:
    """Run the module's ``main()`` here; return what running it as a command would have (rc, stdout, stderr).

    The module's result is its printed JSON, as from a new interpreter, so Ansible parses it the same
    way. A module that raises gives rc 1 and the traceback on stderr, as a crashed interpreter would
    (the module's own error handling keeps values out of its messages either way).
    """
    from ansible.module_utils import basic
    from ansible.module_utils.common import warnings as _warnings

    module = importlib.import_module(module_import_path)
    basic._ANSIBLE_ARGS = _arguments_payload(module_args)
    if hasattr(basic, "_ANSIBLE_PROFILE"):
        basic._ANSIBLE_PROFILE = _PROFILE
    # the warning lists are module globals: within a loop, one item's warnings are not the next one's
    _warnings._global_warnings.clear()
    _warnings._global_deprecations.clear()
    stdout, stderr = io.StringIO(), io.StringIO()
    rc = 0
    try:
        with _environment(environment), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            module.main()
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:  # pylint: disable=broad-except  # reported as the interpreter would
        stderr.write(traceback.format_exc())
        rc = 1
    finally:
        basic._ANSIBLE_ARGS = None
        _warnings._global_warnings.clear()
        _warnings._global_deprecations.clear()
    out, err = stdout.getvalue(), stderr.getvalue()
    return dict(rc=rc, stdout=out, stdout_lines=out.splitlines(), stderr=err, stderr_lines=err.splitlines())
