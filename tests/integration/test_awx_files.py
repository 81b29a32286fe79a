"""AWX / AAP files: the custom credential types and playbooks/awx_configure.yml.

The credential types are checked against the collection itself: every field that holds a credential
is secret, every injected environment variable is one the collection (or the SDK it hands over to)
reads, and an injector rendered the way AWX renders it (Jinja, missing fields empty) yields options
that select the right provider. The playbook gets ansible-playbook's syntax check, which needs the
awx.awx collection: tests/servers/fetch_optional_collections.sh puts it on the collections path
(make does that before the tests).
"""
from __future__ import annotations

import ast
import glob
import json
import os
import re
import subprocess

import jinja2
import jinja2.meta
import jinja2.sandbox
import pytest
import yaml
from dateutil import rrule

from ansible_collections.vibebox.secrets.plugins.module_utils.core import factory, options

from ansible_run import BIN, REPO

TYPES_DIR = os.path.join(REPO, "extensions", "awx", "credential_types")
TYPE_FILES = sorted(glob.glob(os.path.join(TYPES_DIR, "*.yml")))
PLAYBOOK = os.path.join(REPO, "playbooks", "awx_configure.yml")
CONFIGURATION_DOC = os.path.join(REPO, "docs", "configuration.md")

SECRET_LOOKING = re.compile(r"(secret|token|password|passphrase|private|(^|_)key($|_)|kubeconfig)")
#: ids that look secret but name something that is not: (id, why)
NOT_SECRET = {"k8s_secret_name": "the name of a Kubernetes Secret object",
              "vault_kubernetes_token_file": "where the pod's token is mounted, not the token"}

#: environment variables the collection reads through options.py and the special cases beside it
COLLECTION_ENV = (
    {variable for name in options.OPTION_NAMES for variable in options.env_names(name)}
    | set(options.PREFIX_ENV.values())
    | {"SECRET_CACHE_TTL", "ENABLE_SECRET_MANAGER"}
)
#: variables read by something the collection hands over to, with where the collection says so
DOCUMENTED_EXTRAS = {
    "AWS_ACCESS_KEY_ID": "plugins/doc_fragments/aws.py",  # boto3's default chain
    "AWS_SECRET_ACCESS_KEY": "plugins/doc_fragments/aws.py",
    "AWS_SESSION_TOKEN": "plugins/doc_fragments/aws.py",
    "VIBEBOX_LOCAL_KEY": "plugins/module_utils/providers/local.py",  # read by the local provider itself
    "PGHOST": "plugins/modules/postgres_rotate.py",  # libpq, when the module's login options are unset
    "PGPORT": "plugins/modules/postgres_rotate.py",
    "PGUSER": "plugins/modules/postgres_rotate.py",
    "PGPASSWORD": "plugins/modules/postgres_rotate.py",
    "PGSSLMODE": "plugins/module_utils/postgres.py",  # "libpq's PG* variables apply"
}
#: variables an SDK reads itself, where an empty value is not "unset" but an error
MUST_NOT_BE_EMPTY = {"AWS_PROFILE", "AZURE_AUTHORITY_HOST", "GOOGLE_APPLICATION_CREDENTIALS", "KUBECONFIG", "PGSSLMODE"}


def load(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def type_id(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


TYPES = {type_id(path): load(path) for path in TYPE_FILES}


def fields(definition: dict) -> dict:
    return {field["id"]: field for field in definition["inputs"]["fields"]}


def test_there_is_a_type_per_provider():
    providers = {item["injectors"]["env"].get("SECRET_PROVIDER") for item in TYPES.values()}
    assert {"aws", "gcp", "azure", "vault", "kubernetes", "local"} <= providers
    assert len({item["name"] for item in TYPES.values()}) == len(TYPES), "two types share a name"


@pytest.mark.parametrize("name", sorted(TYPES))
def test_shape(name):
    definition = TYPES[name]
    assert set(definition) == {"name", "description", "kind", "inputs", "injectors"}
    assert definition["kind"] == "cloud"
    assert definition["name"].startswith("vibebox.secrets ")
    assert definition["description"].strip()
    found = fields(definition)
    assert len(found) == len(definition["inputs"]["fields"]), "duplicate field id"
    for field_id, field in found.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", field_id), field_id
        assert field.get("label") and field.get("help_text"), field_id
        assert field.get("type", "string") in ("string", "boolean"), field_id
        if "choices" in field:
            assert field.get("type", "string") == "string" and all(isinstance(c, str) for c in field["choices"])
    assert set(definition["inputs"].get("required", [])) <= set(found)
    assert set(definition["injectors"]) <= {"env", "file", "extra_vars"}
    assert definition["injectors"]["env"], "the collection is configured through the environment"


@pytest.mark.parametrize("name", sorted(TYPES))
def test_every_credential_field_is_secret(name):
    for field_id, field in fields(TYPES[name]).items():
        looks_secret = bool(SECRET_LOOKING.search(field_id)) and field_id not in NOT_SECRET
        if looks_secret or field_id in options.SECRET_OPTIONS:
            assert field.get("secret") is True, f"{name}: field {field_id} holds a credential but is not secret: true"


@pytest.mark.parametrize("name", sorted(TYPES))
def test_injectors_set_only_variables_the_collection_reads(name):
    definition = TYPES[name]
    env = definition["injectors"]["env"]
    for variable, template in env.items():
        assert not variable.startswith("ANSIBLE_"), "AWX reserves ANSIBLE_* variables"
        assert variable in COLLECTION_ENV or variable in DOCUMENTED_EXTRAS, (
            f"{name}: {variable} is read neither by core/options.py nor by a documented extra"
        )
        # a field named like an option feeds one of that option's own variables
        used = jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(str(template)))
        for field_id in used & set(options.OPTION_NAMES):
            # options without a variable of their own (the AWS keys) are read by the SDK's standard one
            own = options.env_names(field_id)
            assert variable in own or (not own and variable in DOCUMENTED_EXTRAS), (
                f"{name}: field {field_id} is injected as {variable}, which option {field_id} does not read"
            )
    if "SECRET_PROVIDER" in env:
        assert env["SECRET_PROVIDER"] in options.PROVIDERS


@pytest.mark.parametrize("variable", sorted(DOCUMENTED_EXTRAS))
def test_documented_extras_are_documented(variable):
    with open(os.path.join(REPO, DOCUMENTED_EXTRAS[variable]), encoding="utf-8") as handle:
        source = handle.read()
    assert variable in source or ("PGSSLMODE" == variable and "PG*" in source), (
        f"{DOCUMENTED_EXTRAS[variable]} no longer says that {variable} is read"
    )
    with open(CONFIGURATION_DOC, encoding="utf-8") as handle:
        assert variable in handle.read(), f"docs/configuration.md does not document {variable}"


@pytest.mark.parametrize("name", sorted(TYPES))
def test_templates_use_only_fields_and_awx_filenames(name):
    definition = TYPES[name]
    ids = set(fields(definition))
    files = definition["injectors"].get("file", {})
    single = "template" in files
    multi = {key.split(".", 1)[1] for key in files if key.startswith("template.")}
    assert not (single and multi), "AWX refuses single- and multi-file syntax in one type"
    assert set(files) <= {"template"} | {f"template.{item}" for item in multi}
    for where, template in list(definition["injectors"].get("env", {}).items()) + list(files.items()):
        parsed = jinja2.Environment().parse(str(template))
        assert jinja2.meta.find_undeclared_variables(parsed) <= ids | {"tower"}, f"{name} {where}: unknown variable"
        for reference in re.findall(r"tower\.filename(?:\.(\w+))?", str(template)):
            assert (reference in multi) if reference else single, f"{name} {where}: no file for tower.filename.{reference}"


def render(definition: dict, inputs: dict, tmp_path) -> dict:
    """The environment AWX gives a job: Jinja in a sandbox, missing fields undefined (so empty)."""
    sandbox = jinja2.sandbox.ImmutableSandboxedEnvironment()
    namespace = dict(inputs)
    files = definition["injectors"].get("file", {})
    paths = {}
    for key, template in files.items():
        path = tmp_path / f"awx-{key.replace('.', '-')}"
        path.write_text(sandbox.from_string(template).render(**namespace))
        paths[key] = str(path)
    if "template" in paths:
        namespace["tower"] = {"filename": paths["template"]}
    elif paths:
        namespace["tower"] = {"filename": {key.split(".", 1)[1]: value for key, value in paths.items()}}
    return {key: sandbox.from_string(str(value)).render(**namespace) for key, value in definition["injectors"]["env"].items()}


SAMPLES = {
    "vault": {"vault_addr": "https://vault.example.com:8200", "vault_token": "hvs.sample"},
    "aws": {"aws_region": "eu-west-1"},
    "gcp": {"gcp_project": "acme-prod", "gcp_service_account_key": json.dumps({"type": "service_account"})},
    "azure": {"azure_vault_url": "https://acme.vault.azure.net"},
    "kubernetes": {"kubeconfig": "apiVersion: v1\nkind: Config\n"},
    "local": {"local_key": "A" * 43 + "=", "local_path": "/runner/store/secrets.db"},
    "postgres": {"pg_host": "db.example.com", "pg_user": "admin", "pg_password": "sample"},
}


@pytest.mark.parametrize("name", sorted(TYPES))
def test_rendered_with_only_required_fields_selects_the_provider(name, tmp_path):
    definition = TYPES[name]
    sample = SAMPLES[name]
    assert set(definition["inputs"].get("required", [])) <= set(sample), "update SAMPLES"
    env = render(definition, sample, tmp_path)
    for variable in MUST_NOT_BE_EMPTY & set(env):
        assert env[variable], f"{name}: {variable} is injected empty, which its SDK reads as an error"
    for variable in options.PREFIX_ENV.values():
        assert variable not in env, f"{name}: an injected {variable} would override the default prefix even when empty"
    resolved = options.with_environment({}, env)
    provider = env.get("SECRET_PROVIDER")
    if provider:
        assert factory.resolve(resolved, env).provider == provider
    written_to_files = set().union(*(jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(str(item)))
                                     for item in definition["injectors"].get("file", {}).values()))
    for field_id, value in sample.items():
        if field_id in options.OPTION_NAMES and field_id not in written_to_files:
            assert resolved[field_id] == value, f"{name}: {field_id} did not reach the option"
    if "GOOGLE_APPLICATION_CREDENTIALS" in env:
        with open(env["GOOGLE_APPLICATION_CREDENTIALS"], encoding="utf-8") as handle:
            assert json.load(handle)["type"] == "service_account"
        assert resolved["gcp_credentials"] == env["GOOGLE_APPLICATION_CREDENTIALS"]
    if name == "vault":
        assert resolved["vault_ca_cert"] is None, "no CA given must leave VAULT_CACERT unset"
        with_ca = render(definition, dict(sample, vault_ca_cert="-----BEGIN CERTIFICATE-----\n"), tmp_path)
        assert os.path.isfile(with_ca["VAULT_CACERT"])


# --- playbooks/awx_configure.yml ---------------------------------------------------------------------
def playbook_vars() -> dict:
    return load(PLAYBOOK)[0]["vars"]


def test_playbook_creates_every_credential_type():
    assert sorted(playbook_vars()["awx_credential_types"]) == sorted(TYPES)


def _awx_plugin_options(kind: str, name: str) -> dict:
    """The documented options of an awx.awx plugin (what its argument spec is built from), by path."""
    path = os.path.join(awx_collection_path(), "ansible_collections", "awx", "awx", "plugins", kind, f"{name}.py")
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", "") == "DOCUMENTATION" for target in node.targets):
            return yaml.safe_load(node.value.value)["options"]
    raise AssertionError(f"no DOCUMENTATION in {path}")


def test_awx_tasks_pass_only_arguments_of_the_awx_modules():
    """Each awx.awx task's arguments are options of that module, and literal values are among its choices."""
    for task in load(PLAYBOOK)[0]["tasks"]:
        module = next((key for key in task if key.startswith("awx.awx.")), None)
        if module is None:
            continue
        documented = _awx_plugin_options("modules", module.split(".")[-1])
        unknown = sorted(set(task[module]) - set(documented))
        assert not unknown, f"{task['name']}: {module} has no option {unknown}"
        for key, value in task[module].items():
            choices = documented[key].get("choices")
            if choices and isinstance(value, str) and "{{" not in value:
                assert value in choices, f"{task['name']}: {key}={value!r} is not one of {choices}"


SCHEDULE_PLAY = """
- name: Render the schedule rules exactly as awx_configure.yml does
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - {vars_file}
  tasks:
    - name: Each rule
      ansible.builtin.set_fact:
        rules: "{{{{ rules | default({{}}) | combine({{awx_schedule.name: rule}}) }}}}"
      vars:
        rule: {expression}
      loop: "{{{{ awx_schedules }}}}"
      loop_control:
        loop_var: awx_schedule
    - name: Write them
      ansible.builtin.copy:
        content: "{{{{ rules | to_json }}}}"
        dest: {out}
        mode: "0600"
"""


def test_schedules_are_built_with_schedule_rrule_and_follow_the_seed(tmp_path):
    """Every kind has a schedule; each rule comes from awx.awx.schedule_rrule's rule builder with options
    that lookup documents, rendered by the playbook's own expression, and fires when the seed says."""
    play = load(PLAYBOOK)[0]
    variables = play["vars"]
    task = next(item for item in play["tasks"] if "awx.awx.schedule" in item)
    expression = task["awx.awx.schedule"]["rrule"]
    assert "awx_schedule_rrule(" in expression and "RRULE:" not in json.dumps(play)
    lookup_options = _awx_plugin_options("lookup", "schedule_rrule")
    schedules = {item["extra_data"].get("rotate_secret") or item["template"]: item for item in variables["awx_schedules"]}
    assert set(schedules) == {"jwt-secret", "jwt-refresh-secret", "database-password", "encryption-key", "cleanup",
                              "compliance"}
    for item in schedules.values():
        assert set(item["options"]) | {"every", "start_date", "timezone"} <= set(lookup_options), item["name"]
        assert item["frequency"] in lookup_options["_terms"]["choices"]
        assert item["template"] in variables["awx_job_templates"]
    # disabled by default, and the schedule says why
    assert variables["awx_encryption_key_schedule_enabled"] is False
    assert "Disabled by default" in schedules["encryption-key"]["description"]
    assert "re-encrypted" in schedules["encryption-key"]["description"]

    vars_file = tmp_path / "awx-vars.yml"
    vars_file.write_text(yaml.safe_dump(variables))
    out = tmp_path / "rules.json"
    playbook = tmp_path / "rules.yml"
    playbook.write_text(SCHEDULE_PLAY.format(vars_file=json.dumps(str(vars_file)), out=json.dumps(str(out)),
                                             expression=json.dumps(expression)))
    awx_path = awx_collection_path()
    # the playbook's own filter folder, as ansible-playbook adds it for playbooks/awx_configure.yml
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FILTER_PLUGINS=os.path.join(REPO, "playbooks", "filter_plugins"))
    paths = [awx_path] + [item for item in env.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if item]
    env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    done = subprocess.run([os.path.join(BIN, "ansible-playbook"), str(playbook)], capture_output=True, text=True,
                          timeout=300, check=False, env=env, cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rules = json.loads(out.read_text())

    def fires(key):
        rule = rules[schedules[key]["name"]]
        assert rule.startswith(f"DTSTART;TZID={variables['awx_schedule_timezone']}:2025") and "INTERVAL=" in rule, rule
        assert not re.search(r"BYWEEKNO|BYYEARDAY|BYSETPOS|COUNT=", rule), "AWX refuses these rrule parts"
        return [(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.weekday())
                for moment in rrule.rrulestr(rule)[:5]]

    assert [(m, d, h, mi) for _y, m, d, h, mi, _w in fires("jwt-secret")] == [(m, 1, 3, 0) for m in range(1, 6)]
    assert [(m, d, h, mi) for _y, m, d, h, mi, _w in fires("jwt-refresh-secret")] == [(m, 2, 3, 30) for m in range(1, 6)]
    assert [(y, m, d) for y, m, d, _h, _mi, _w in fires("database-password")] == [
        (2025, 1, 1), (2025, 4, 1), (2025, 7, 1), (2025, 10, 1), (2026, 1, 1)]
    assert [(y, m, d) for y, m, d, _h, _mi, _w in fires("encryption-key")] == [(2025 + n, 1, 1) for n in range(5)]
    assert [d for _y, _m, d, _h, _mi, _w in fires("cleanup")] == [1, 2, 3, 4, 5]
    assert {w for *_rest, w in fires("compliance")} == {0}  # Mondays
    starts = [(h, mi) for key in schedules for _y, _m, _d, h, mi, _w in fires(key)[:1]]
    assert len(set(starts)) == len(starts), "two schedules start together"
    # a job that fires twice in one period rotates once: named rotations carry a minimum age
    for key in ("jwt-secret", "jwt-refresh-secret", "database-password", "encryption-key"):
        assert schedules[key]["extra_data"]["rotate_if_older_than"], key


def awx_collection_path() -> str:
    """A collections path holding awx.awx: ANSIBLE_COLLECTIONS_PATH, else .build/collections."""
    candidates = [item for item in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if item]
    candidates.append(os.path.join(REPO, ".build", "collections"))
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, "ansible_collections", "awx", "awx", "MANIFEST.json")):
            return candidate
    message = ("awx.awx is not on the collections path; run "
               "tests/servers/fetch_optional_collections.sh .build/collections (make does)")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def test_playbook_syntax_check():
    awx_path = awx_collection_path()
    env = dict(os.environ)
    paths = [awx_path] + [item for item in env.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if item]
    env.update(ANSIBLE_COLLECTIONS_PATH=os.pathsep.join(dict.fromkeys(paths)), ANSIBLE_NOCOLOR="1")
    done = subprocess.run([os.path.join(BIN, "ansible-playbook"), "--syntax-check", PLAYBOOK],
                          capture_output=True, text=True, timeout=300, check=False, env=env, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
