# -*- coding: utf-8 -*-
"""What a read does with a secret past its expiry (``on_expired``): the same option on the get and dotenv lookups
and the resolve filter, written once. ``LOOKUP`` adds the variable, environment variable and ansible.cfg entry
that only lookups can read (a filter is given its options as arguments)."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  on_expired:
    description:
      - What to do when a secret's current value is past the expiry stored with it (the C(expires_at) or C(expires_in)
        option of M(vibebox.secrets.secret)). V(error) fails naming the secret and the expiry time (never the value),
        V(warn) returns the value and warns once per secret, V(ignore) returns it silently.
      - Judged only where the provider's value read returns the expiry (local, Vault/OpenBao, Kubernetes, Azure), so a
        read costs no extra request; on AWS and GCP the expiry shows in M(vibebox.secrets.secret_info) and the
        compliance report instead.
    type: str
    choices: [error, warn, ignore]
    default: warn
"""

    LOOKUP = r"""
options:
  on_expired:
    description:
      - What to do when a secret's current value is past the expiry stored with it (the C(expires_at) or C(expires_in)
        option of M(vibebox.secrets.secret)). V(error) fails naming the secret and the expiry time (never the value),
        V(warn) returns the value and warns once per secret, V(ignore) returns it silently.
      - Judged only where the provider's value read returns the expiry (local, Vault/OpenBao, Kubernetes, Azure),
        so a read costs no extra request; on AWS and GCP the expiry shows in M(vibebox.secrets.secret_info) and
        the compliance report instead.
    type: str
    choices:
      - error
      - warn
      - ignore
    default: warn
    vars:
      - name: vibebox_secrets_on_expired
    ini:
      - section: vibebox_secrets
        key: on_expired
"""
