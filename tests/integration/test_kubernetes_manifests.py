"""deploy/kubernetes/: every manifest validates against Kubernetes' own schemas, and they fit
together (labels, ports, probe, the config's secret paths, the HA and hardening settings).

`kubernetes-validate` checks each object against the OpenAPI schema of Kubernetes 1.37, with
unknown fields refused (`strict`); the ServiceMonitor is a CRD it has no schema for, so its
few fields are checked here. The ConfigMap's config.yaml is loaded by our own config loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from sync.config import load_config

FOLDER = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
VERSION = "1.37.0"
LABELS = {"app.kubernetes.io/name": "timetrack-sync"}


def manifest(name: str) -> dict[str, Any]:
    data = yaml.safe_load((FOLDER / name).read_text())
    assert isinstance(data, dict)
    return data


def pod_spec(name: str) -> dict[str, Any]:
    doc = manifest(name)
    template = (
        doc["spec"]["template"]
        if doc["kind"] == "Deployment"
        else doc["spec"]["jobTemplate"]["spec"]["template"]
    )
    return template["spec"]


@pytest.mark.parametrize(
    "name",
    [
        "configmap.yaml",
        "secret.example.yaml",
        "deployment.yaml",
        "service.yaml",
        "networkpolicy.yaml",
        "cronjob.yaml",
    ],
)
def test_the_manifest_is_valid_for_kubernetes(name: str) -> None:
    kubernetes_validate.validate(manifest(name), VERSION, strict=True)


def test_kustomization_lists_existing_manifests_and_the_service_monitor_fits_the_service() -> None:
    resources = manifest("kustomization.yaml")["resources"]
    assert all((FOLDER / name).is_file() for name in resources)
    assert "cronjob.yaml" not in resources  # one or the other: never both schedules
    monitor, service = manifest("servicemonitor.yaml"), manifest("service.yaml")
    assert (monitor["apiVersion"], monitor["kind"]) == (
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
    )
    assert monitor["spec"]["selector"]["matchLabels"] == service["metadata"]["labels"]
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports


@pytest.mark.parametrize("name", ["deployment.yaml", "cronjob.yaml"])
def test_the_pods_are_hardened(name: str) -> None:
    spec = pod_spec(name)
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001  # the image's user (Containerfile)
    [container] = spec["containers"]
    hardening = container["securityContext"]
    assert hardening["readOnlyRootFilesystem"] is True
    assert hardening["allowPrivilegeEscalation"] is False
    assert hardening["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["limits"]["memory"] and container["resources"]["limits"]["cpu"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    config = volumes[mounts["/etc/timetrack-sync"]["name"]]
    secrets = volumes[mounts["/run/secrets/timetrack-sync"]["name"]]
    assert config["configMap"]["name"] == manifest("configmap.yaml")["metadata"]["name"]
    assert secrets["secret"]["secretName"] == manifest("secret.example.yaml")["metadata"]["name"]
    assert secrets["secret"]["defaultMode"] & 0o007 == 0  # not world-readable


def test_the_deployment_runs_two_daemons_probed_on_healthz() -> None:
    deployment = manifest("deployment.yaml")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"]["matchLabels"] == LABELS
    assert deployment["spec"]["template"]["metadata"]["labels"] == LABELS
    [container] = pod_spec("deployment.yaml")["containers"]
    assert container["args"] == ["daemon"]
    probe = container["livenessProbe"]["httpGet"]
    port = {p["name"]: p["containerPort"] for p in container["ports"]}[probe["port"]]
    assert probe["path"] == "/healthz"
    config = yaml.safe_load(manifest("configmap.yaml")["data"]["config.yaml"])
    assert config["metrics"]["listen"] == f"0.0.0.0:{port}"
    assert manifest("service.yaml")["spec"]["selector"] == LABELS
    assert manifest("networkpolicy.yaml")["spec"]["podSelector"]["matchLabels"] == LABELS


def test_the_cronjob_never_overlaps_and_runs_once() -> None:
    cron = manifest("cronjob.yaml")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    [container] = pod_spec("cronjob.yaml")["containers"]
    assert container["args"] == ["sync"]


def test_the_configmap_holds_a_valid_config_whose_secrets_are_the_secret_files(
    tmp_path: Path,
) -> None:
    text = manifest("configmap.yaml")["data"]["config.yaml"]
    path = tmp_path / "config.yaml"
    path.write_text(text)
    path.chmod(0o600)
    config = load_config(path)  # validates every key; secret files are read only when used
    assert config.state.url.startswith("postgresql+psycopg://")  # the HA setup
    files = [
        config.timetrack.api_secret_file,
        *(t.password_file for t in config.notify if t.type == "email"),
        *(getattr(j.source, "bind_password_file", None) for j in config.jobs),
    ]
    keys = set(manifest("secret.example.yaml")["stringData"])
    for secret_file in filter(None, files):
        assert secret_file.parent == Path("/run/secrets/timetrack-sync")
        assert secret_file.name in keys
    assert "pgpass" in keys
