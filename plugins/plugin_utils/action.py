# Internal plugin_utils of vibebox.secrets: not part of the public API, may change without notice.
"""Base of the collection's action plugins: run the module, then do what only the controller can.

Two things only the controller knows, so they are done here, around the module:

- whether the run is an AWX/AAP job. Modules do not see extra variables (``awx_job_id``,
  ``tower_job_id``) and may run on a host without AWX's environment, so the module gets
  ``VIBEBOX_AUTOMATION`` in its environment; with it, a module that would fall back to the embedded
  local store of a throwaway job container refuses before any write (core/options.py choose_provider).
- the run cache. The module may run on any host; the run cache lives on the controller. Only an
  action plugin runs on the controller after the module returns, so this is where a write
  invalidates the cached copy: a write made through the modules in a run is seen by every later
  lookup.

- the strength policy given once for every call. Modules do not see Ansible variables nor the
  controller's ansible.cfg, so a writer that takes ``policy`` (``takes_policy``) gets it here from the
  ``vibebox_secrets_policy`` variable, ``VIBEBOX_SECRETS_POLICY`` or ``[vibebox_secrets] policy`` when
  the task gives none (core/strength.py collection_policy); a bad one fails here, naming its source,
  before the module runs.

- where the module runs. On the controller itself, with the controller's own Python, the module's
  ``main()`` runs inside the task's worker instead of a new interpreter (plugin_utils/in_process.py
  says when and how); the result is the same, without the half second a new Python costs per task.

Each module's action plugin (plugins/action/<module>.py) is a subclass that says which names a
result wrote; it adds no option.
"""
from __future__ import annotations

import configparser
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

from ansible_collections.vibebox.secrets.plugins.module_utils.core import errors as _errors
from ansible_collections.vibebox.secrets.plugins.module_utils.core import options as _options
from ansible_collections.vibebox.secrets.plugins.module_utils.core import strength as _strength
from ansible_collections.vibebox.secrets.plugins.plugin_utils import in_process as _in_process
from ansible_collections.vibebox.secrets.plugins.plugin_utils.run_cache import client as _run_cache

display = Display()


def _names(value: Any) -> List[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value if isinstance(item, str)]
    return []


def _dicts(value: Any) -> List[Dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, (list, tuple)) else []


def written_in(entry: Mapping[str, Any]) -> List[str]:
    """The names a result (or one row of it) gives for what it wrote: logical and as stored."""
    return [name for name in _names(entry.get("name")) + _names(entry.get("provider_name")) if name]


#: plan actions of a migration that write the target
PLANNED_WRITES = ("create", "update")


def planned_if_failed(result: Mapping[str, Any], actions: Iterable[str] = PLANNED_WRITES) -> List[Dict[str, Any]]:
    """The plan's rows with one of ``actions`` when the run failed (migration, move). ``written`` lists only the
    writes that answered: the one that failed may still have landed (its answer lost, or the expiry set after the
    value failed), so every row the run set out to write is announced; at worst one is read again."""
    if not result.get("failed"):
        return []
    return [row for row in result.get("plan") or [] if isinstance(row, dict) and row.get("action") in actions]


def ini_entries(section: str, path: Any = None) -> Mapping[str, str]:
    """The ``[section]`` of the ansible.cfg this run uses (empty when there is none or it cannot be read)."""
    if path is None:
        from ansible import constants as C

        path = getattr(C, "CONFIG_FILE", None)
    if not path:
        return {}
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return {}
    return dict(parser.items(section)) if parser.has_section(section) else {}


class SecretAction(ActionBase):
    """Run the module as the ``normal`` action would, telling it when the run is automation."""

    _supports_check_mode = True
    _supports_async = True
    #: the module takes ``policy`` and ``policy_mode`` (the strength policy of a write)
    takes_policy = False
    #: the arguments of the module run that is answered in this worker (None: run it as usual)
    _arguments_here: Optional[Dict[str, Any]] = None

    def in_process_refusal(self, task_vars: Dict[str, Any]) -> Optional[str]:
        """Why the module cannot run in this worker (None when it can): see plugin_utils/in_process.py."""
        use_vars = task_vars
        if self._task.delegate_to:
            use_vars = (task_vars.get("ansible_delegated_vars") or {}).get(self._task.delegate_to) or task_vars
        interpreter = use_vars.get("ansible_python_interpreter")
        if interpreter is not None:
            interpreter = self._templar.template(interpreter)
        variables = {}
        if _in_process.VARIABLE in task_vars:
            variables[_in_process.VARIABLE] = self._templar.template(task_vars[_in_process.VARIABLE])
        return _in_process.refusal(
            connection=str(getattr(self._connection, "transport", "") or ""),
            become=bool(self._play_context.become), is_async=bool(self._task.async_val),
            interpreter=interpreter, variables=variables, environ=os.environ)

    def _is_pipelining_enabled(self, module_style: str, wrap_async: bool = False) -> bool:
        # a module answered here needs no temporary files on the target: Ansible then builds the
        # command without them, and _low_level_execute_command below answers it
        if self._arguments_here is not None:
            return True
        return super()._is_pipelining_enabled(module_style, wrap_async)

    def _low_level_execute_command(self, cmd: str, *args: Any, **kwargs: Any) -> Dict[str, Any]:
        arguments = self._arguments_here
        if arguments is None:
            return super()._low_level_execute_command(cmd, *args, **kwargs)
        self._arguments_here = None  # the module's command only; anything else goes to the connection
        environment: Dict[str, Any] = {}
        self._compute_environment_string(environment)
        module_path = _in_process.module_path_of(type(self).__module__)
        display.vvv(f"vibebox.secrets: {module_path.rpartition('.')[2]} runs in this worker (the controller's own Python)",
                    host=self._play_context.remote_addr)
        return _in_process.run_module(module_path, arguments, environment)

    def policy_arguments(self, task_vars: Dict[str, Any]) -> Dict[str, Any]:
        """``policy``/``policy_mode`` from the collection-wide sources when the task gives none."""
        if not self.takes_policy:
            return {}
        names = (_strength.VARIABLE, _strength.MODE_VARIABLE)
        variables = {name: self._templar.template(task_vars[name]) for name in names if name in (task_vars or {})}
        return _strength.collection_policy(self._task.args, variables, os.environ,
                                           ini_entries(_strength.INI_SECTION))

    def automation_environment(self, task_vars: Dict[str, Any]) -> Dict[str, str]:
        """The module's extra environment: VIBEBOX_AUTOMATION when the controller sees a job."""
        marker = _options.automation_marker(task_vars or {}, os.environ)
        return {_options.AUTOMATION_ENV: marker} if marker else {}

    def module_arguments(self, task_vars: Dict[str, Any]) -> Dict[str, Any]:
        """The module's arguments: the task's (a subclass adds what only the controller knows)."""
        return self._task.args

    def execute_module(self, task_vars: Dict[str, Any], wrap_async: bool,
                       arguments: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        extra = self.automation_environment(task_vars)
        saved = self._task.environment
        if extra:
            # first, so that an `environment:` the task or play sets wins over it
            given = saved if isinstance(saved, list) else [saved] if saved else []
            self._task.environment = [extra] + list(given)
        if arguments is None:
            arguments = self._task.args
        if not wrap_async and self.in_process_refusal(task_vars) is None:
            # the same dict Ansible completes with its own arguments (check mode, diff, no_log ...)
            self._arguments_here = arguments
        try:
            return self._execute_module(module_args=arguments, task_vars=task_vars, wrap_async=wrap_async)
        finally:
            self._arguments_here = None
            self._task.environment = saved

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # no effect since ansible-core 2.x; kept for the ActionBase signature
        try:
            added = self.policy_arguments(task_vars or {})
        except _errors.SecretError as exc:
            result.update(failed=True, changed=False, msg=str(exc), error_kind=exc.kind)
            return result
        if added:
            self._task.args = dict(self._task.args, **added)
        wrap_async = self._task.async_val and not self._connection.has_native_async
        arguments = self.module_arguments(task_vars or {})
        result = merge_hash(result, self.execute_module(task_vars or {}, wrap_async, arguments))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        self.after(result)
        return result

    def after(self, result: Dict[str, Any]) -> None:
        """What to do on the controller once the module has answered (nothing for a read)."""


class SecretWriteAction(SecretAction):
    """SecretAction that afterwards drops from the run cache what the module may have changed."""

    #: the module's default for ``name`` when the task does not give one (postgres_rotate has one)
    default_name = None

    def run(self, tmp=None, task_vars=None):
        try:
            return super().run(tmp, task_vars)
        except BaseException:
            # The task ended inside the module (its ``timeout``, a lost connection), so ``after`` never ran: what
            # the module wrote until then, under whatever names, is unknown. The run's cache is dropped whole, and
            # an async task's job, which may have started before the error, may still write until its async
            # seconds are over: nothing is kept until then either.
            try:
                _run_cache.invalidate((), hold=self.async_seconds(), everything=True)
            except Exception:  # pylint: disable=broad-except  # the task's own error is the one to report
                pass
            raise

    def written_names(self, result: Dict[str, Any]) -> Iterable[str]:
        """Every name the task's write may be known by: the task's ``name`` (or each item of ``secrets``), and
        what the result says it wrote, logical and as stored in the provider (``provider_name``), so the run
        cache drops a copy read under another prefix too."""
        args = self._task.args
        names = _names(args.get("name")) + written_in(result)
        for item in _dicts(args.get("secrets")):
            names += _names(item.get("name"))
        for entry in _dicts(result.get("results")):
            names += written_in(entry)
        if not names and self.default_name:
            names = [self.default_name]
        return dict.fromkeys(names)

    def after(self, result: Dict[str, Any]) -> None:
        # A failed task may still have written (e.g. value set, tags not): forget it too. An async task's
        # job writes later, at any moment until its async timeout: a lookup made meanwhile may read the
        # value from before the write, so the helper keeps nothing of these names until then.
        # A writer that names what it wrote only in its result (a migration, a move) names nothing when its async
        # job starts: then nothing at all is kept until the job is over.
        if result.get("changed") or result.get("failed"):
            names, hold = list(self.written_names(result)), self.async_seconds()
            _run_cache.invalidate(names, hold=hold, everything=bool(hold) and not names)

    def async_seconds(self) -> float:
        """How long the task's async job may still write (its ``async`` seconds; 0 for a task that is done)."""
        try:
            return max(float(self._task.async_val or 0), 0.0)
        except (TypeError, ValueError):
            return 0.0
