"""deploy/k8s is valid Kubernetes (the 1.37 schemas shipped by kubernetes-validate, strict:
no unknown fields) and hangs together: every reference resolves, every model of the
registry has a GPU worker Deployment scaled on its live queue depth, and the web tier has
replicas, probes and a Service. No cluster needed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import REPO_ROOT
from tests.conftest import require_module

K8S = Path(REPO_ROOT) / "deploy" / "k8s"
VERSION = "1.37.0"
kv = require_module("kubernetes_validate", "pip install -e '.[test]'")


def documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_every_manifest_is_valid_against_the_kubernetes_schemas() -> None:
    docs = [d for d in documents() if not d["apiVersion"].startswith("keda.sh/")]
    assert len(docs) >= 15
    for doc in docs:
        kv.validate(doc, VERSION, strict=True)


def test_the_validator_catches_broken_manifests() -> None:
    web = by_kind(documents(), "Deployment")["arena-web"]
    for mutate in (
        lambda d: d["spec"].__setitem__("replicas", "three"),
        lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("imag", "x"),
        lambda d: d["spec"].pop("selector"),
    ):
        broken = copy.deepcopy(web)
        mutate(broken)
        with pytest.raises(kv.ValidationError):
            kv.validate(broken, VERSION, strict=True)


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict]]:
    """(owner name, pod spec, pod labels) of every workload."""
    out = []
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            template = doc["spec"]["template"]
            out.append((doc["metadata"]["name"], template["spec"],
                        template["metadata"].get("labels", {})))
    return out


def test_every_reference_resolves() -> None:
    docs = documents()
    config_maps, secrets = by_kind(docs, "ConfigMap"), by_kind(docs, "Secret")
    claims = by_kind(docs, "PersistentVolumeClaim")
    for owner, spec, _ in pod_specs(docs):
        for volume in spec.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, owner
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps, owner
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps, owner
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets, owner
    labels = [lab for _, _, lab in pod_specs(docs)]
    for name, service in by_kind(docs, "Service").items():
        selector = service["spec"]["selector"]
        assert any(selector.items() <= lab.items() for lab in labels), name
    workloads = by_kind(docs, "Deployment")
    for name, hpa in by_kind(docs, "HorizontalPodAutoscaler").items():
        assert hpa["spec"]["scaleTargetRef"]["name"] in workloads, name
    for name, scaled in by_kind(docs, "ScaledObject").items():
        assert scaled["spec"]["scaleTargetRef"]["name"] in workloads, name


def test_each_model_has_a_gpu_worker_scaled_on_its_live_queue() -> None:
    docs = documents()
    registry = yaml.safe_load(by_kind(docs, "ConfigMap")["arena-models"]["data"]["models.yaml"])
    models = [m["name"] for m in registry["models"]]
    workers = {d["spec"]["template"]["metadata"]["labels"]["arena/model"]: d
               for d in by_kind(docs, "Deployment").values()
               if "arena/model" in d["spec"]["template"]["metadata"]["labels"]}
    assert sorted(workers) == sorted(models)
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h
            for h in by_kind(docs, "HorizontalPodAutoscaler").values()}
    keda = {s["spec"]["scaleTargetRef"]["name"]: s for s in by_kind(docs, "ScaledObject").values()}
    for model, deployment in workers.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["arena", "worker", "--model", model]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert "livenessProbe" in container and "startupProbe" in container
        name = deployment["metadata"]["name"]
        metric = hpas[name]["spec"]["metrics"][0]["external"]["metric"]
        assert metric["name"] == "arena_queue_depth"  # what workers/metrics.py exports
        assert metric["selector"]["matchLabels"] == {"model": model, "lane": "live"}
        trigger = keda[name]["spec"]["triggers"][0]
        assert trigger["type"] == "redis-streams"
        assert trigger["metadata"]["stream"] == f"arena:jobs:{model}"  # redis_queue._jobs
        assert trigger["metadata"]["consumerGroup"] == "workers"


def test_the_web_tier_has_replicas_probes_and_its_metrics_scraped() -> None:
    docs = documents()
    web = by_kind(docs, "Deployment")["arena-web"]
    assert web["spec"]["replicas"] >= 2
    pod = web["spec"]["template"]
    container = pod["spec"]["containers"][0]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
    assert pod["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    assert by_kind(docs, "Job")["arena-migrate"]["spec"]["template"]["spec"][
        "containers"][0]["command"] == ["arena", "migrate"]
