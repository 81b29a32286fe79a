# -*- coding: utf-8 -*-
"""The strength policy every writing module shares (secret, secret_rotate, secret_migrate): written once,
so the three modules cannot describe the same rules differently."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  policy:
    description:
      - The strength policy a value must pass before it is written. Without a policy (here or collection-wide) no
        value is checked; C({}) is the default policy.
      - When the task gives none, the Ansible variable C(vibebox_secrets_policy) is used, then the environment
        variable C(VIBEBOX_SECRETS_POLICY) of the controller (JSON), then C(policy) in the C([vibebox_secrets])
        section of the controller's C(ansible.cfg) (JSON), so one policy covers every call.
      - Keys, each optional; a key not given takes its default, and C(0) or C([]) turns a rule off.
        C(min_length) (fewest characters, default C(16));
        C(classes) (character classes the value must contain, among C(lower), C(upper), C(digits), C(symbols) -
        any character that is not an ASCII letter or digit; default none);
        C(min_entropy_bits) (fewest estimated bits of entropy, default C(64); each character is worth log2 of the
        pool of the classes the value uses, a character that repeats the previous one or continues a run such as
        C(abc) only 1 bit);
        C(forbidden) (values refused without regard to case or to leading and trailing digits and symbols, so
        C(Password123!) is C(password); default a list of common weak values such as C(changeme), C(secret),
        C(password), C(admin), C(123456); placeholders such as C(<secret-key>) are always refused).
      - A bad policy (an unknown key, C(min_length=-1), a wrong type) fails naming the key before anything is read
        or written.
      - The same rules, with the same estimate, are what M(vibebox.secrets.secret_info) reports with
        O(vibebox.secrets.secret_info#module:check_values=true).
    type: dict
  policy_mode:
    description:
      - V(enforce) refuses a value that breaks O(policy) before anything is written, naming the secret and the rules
        it breaks, never the value. V(warn) writes it and says the same in a warning.
      - When the task does not set it, the variable C(vibebox_secrets_policy_mode), then C(VIBEBOX_SECRETS_POLICY_MODE),
        then C(policy_mode) in the C([vibebox_secrets]) section of C(ansible.cfg) are used.
    type: str
    choices: [enforce, warn]
    default: enforce
"""
