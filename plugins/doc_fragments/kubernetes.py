# -*- coding: utf-8 -*-
"""Options of the Kubernetes Secrets provider (provider C(kubernetes))."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  k8s_namespace:
    description:
      - Namespace of the Secret that holds the secrets (provider C(kubernetes)).
      - Defaults to C(default); also C(K8S_SECRET_NAMESPACE).
      - A write into a namespace that does not exist fails with a message naming it; the collection never creates namespaces.
    type: str
  k8s_secret_name:
    description:
      - Name of the one Secret whose keys are the secrets (provider C(kubernetes)). Each secret is the key
        C(<name>); the value it replaced is kept as the key C(<name>.previous), and description, tags and
        version numbers are kept in the annotation C(vibebox.secrets/metadata).
      - Created with the label C(app.kubernetes.io/managed-by=vibebox.secrets) on the first write when absent.
        Deleting the last secret keeps the (empty) Secret.
      - Defaults to C(vibebox-secrets); also C(K8S_SECRET_NAME).
    type: str
  kubeconfig:
    description:
      - Path of the kubeconfig file (provider C(kubernetes)); several paths may be joined with C(:) as in C(KUBECONFIG).
      - When neither this nor O(k8s_context) is set and C(KUBERNETES_SERVICE_HOST) is set (inside a pod), the pod's
        service account is used; otherwise C(~/.kube/config). Also C(KUBECONFIG).
      - Needs the Python package C(kubernetes) on the host that runs the plugin.
    type: path
  k8s_context:
    description:
      - Context of the kubeconfig to use (provider C(kubernetes)); defaults to its current context. Also C(K8S_CONTEXT).
    type: str
"""

    LOOKUP = r"""
options:
  k8s_namespace:
    description:
      - Namespace of the Secret that holds the secrets (provider C(kubernetes)).
      - Defaults to C(default); also C(K8S_SECRET_NAMESPACE).
      - A write into a namespace that does not exist fails with a message naming it; the collection never creates
        namespaces.
    type: str
    vars:
      - name: vibebox_secrets_k8s_namespace
    env:
      - name: K8S_SECRET_NAMESPACE
    ini:
      - section: vibebox_secrets
        key: k8s_namespace
  k8s_secret_name:
    description:
      - Name of the one Secret whose keys are the secrets (provider C(kubernetes)). Each secret is the key C(<name>);
        the value it replaced is kept as the key C(<name>.previous), and description, tags and version numbers are
        kept in the annotation C(vibebox.secrets/metadata).
      - Created with the label C(app.kubernetes.io/managed-by=vibebox.secrets) on the first write when absent. Deleting
        the last secret keeps the (empty) Secret.
      - Defaults to C(vibebox-secrets); also C(K8S_SECRET_NAME).
    type: str
    vars:
      - name: vibebox_secrets_k8s_secret_name
    env:
      - name: K8S_SECRET_NAME
    ini:
      - section: vibebox_secrets
        key: k8s_secret_name
  kubeconfig:
    description:
      - Path of the kubeconfig file (provider C(kubernetes)); several paths may be joined with C(:) as in C(KUBECONFIG).
      - When neither this nor O(k8s_context) is set and C(KUBERNETES_SERVICE_HOST) is set (inside a pod), the pod's
        service account is used; otherwise C(~/.kube/config). Also C(KUBECONFIG).
      - Needs the Python package C(kubernetes) on the host that runs the plugin.
    type: path
    vars:
      - name: vibebox_secrets_kubeconfig
    env:
      - name: KUBECONFIG
    ini:
      - section: vibebox_secrets
        key: kubeconfig
  k8s_context:
    description:
      - Context of the kubeconfig to use (provider C(kubernetes)); defaults to its current context. Also C(K8S_CONTEXT).
    type: str
    vars:
      - name: vibebox_secrets_k8s_context
    env:
      - name: K8S_CONTEXT
    ini:
      - section: vibebox_secrets
        key: k8s_context
"""
