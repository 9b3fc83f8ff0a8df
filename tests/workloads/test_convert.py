"""Manifests → InferenceRequest: kinds, kubectl output, Lists, skips and error messages."""

from pathlib import Path

import pytest
import yaml

from app.core.errors import InputError, TooLargeError
from app.core.schema import InferenceRequest
from app.workloads.convert import complete_request, request_from_object, requests_from_yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "example"
MIB = 2**20


def load(name: str) -> str:
    return (EXAMPLES / name).read_text()


def test_multi_container_deployment_with_90G() -> None:
    (req,) = requests_from_yaml(load("deployment-multi.yaml"), "deployment-multi.yaml").requests
    api_mem = 90e9 / MIB
    # app: api (1.5 CPU, 90G) + fluent-bit (100m, 64Mi); native sidecar envoy (250m, 128Mi);
    # plain init warm-cache (4 CPU, 2Gi) runs before envoy starts.
    assert req.effective_req_cpu_mcpu == max(1500 + 100 + 250, 4000)
    assert req.effective_req_mem_mib == pytest.approx(max(api_mem + 64 + 128, 2048))
    assert req.effective_lim_cpu_mcpu is None  # fluent-bit has no CPU limit
    assert req.effective_lim_mem_mib == pytest.approx(api_mem + 128 + 256)
    assert req.replicas == 3
    assert req.node_type == "r6i.4xlarge"
    assert req.volume_types == ["configMap", "emptyDir"]
    assert req.containers[0].req_mem_mib == pytest.approx(85830.6884765625)
    assert [c.sidecar for c in req.containers] == [False, False, True]


def test_kubectl_get_output_converts_like_the_bare_manifest() -> None:
    full = yaml.safe_load(load("kubectl-get-deployment.yaml"))
    bare = {
        "apiVersion": full["apiVersion"], "kind": full["kind"],
        "metadata": {"name": full["metadata"]["name"], "namespace": full["metadata"]["namespace"],
                     "labels": full["metadata"]["labels"]},
        "spec": {"replicas": full["spec"]["replicas"], "selector": full["spec"]["selector"],
                 "template": full["spec"]["template"]},
    }
    a, b = request_from_object(full), request_from_object(bare)
    assert a.spec_hash() == b.spec_hash()
    assert a.model_dump(exclude={"annotations"}) == b.model_dump(exclude={"annotations"})
    assert "kubectl.kubernetes.io/last-applied-configuration" not in a.annotations


def test_list_flattens_and_skips_non_workloads() -> None:
    result = requests_from_yaml(load("list-mixed.yaml"), "list-mixed.yaml")
    assert [(r.workload_kind, r.workload_name) for r in result.requests] == [
        ("StatefulSet", "redis"), ("DaemonSet", "fluent-bit")]
    assert [(s.document, s.kind, s.name) for s in result.skipped] == [(3, "Service", "redis")]


def test_multi_document_yaml_with_empty_docs() -> None:
    text = load("pod-guaranteed.yaml") + "\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n" + \
        load("cronjob-backup.yaml")
    result = requests_from_yaml(text)
    assert [r.workload_kind for r in result.requests] == ["Pod", "CronJob"]
    assert result.requests[1].schedule == "15 2 * * *"
    assert result.skipped[0].reason == "ConfigMap is not a workload"


def test_gpu_and_affinity_instance_type() -> None:
    (req,) = requests_from_yaml(load("job-gpu-training.yaml")).requests
    assert req.gpu_count == 1
    assert req.node_type == "p3.2xlarge"
    assert req.parallelism == 2 and req.completions == 4 and req.replicas == 2


@pytest.mark.parametrize(
    ("doc", "field", "message"),
    [
        ("- just\n- a list\n", None, "expected a Kubernetes object"),
        ("kind: Deployment\nmetadata: {name: x}\nspec: {replicas: 1}\n", "spec.template", "required field is missing"),
        ("kind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {containers: [{name: a, image: b, "
         "resources: {requests: {cpu: 12xyz}}}]}}}\n",
         "spec.template.spec.containers[0].resources.requests.cpu", "invalid quantity '12xyz'"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n", "spec.containers", "at least one container"),
        ("kind: Job\nmetadata: {name: j}\nspec: {parallelism: -1, template: {spec: {containers: [{name: a}]}}}\n",
         "spec.parallelism", "non-negative integer"),
        ("kind: Deployment\nspec: {}\n", "metadata", "required field is missing"),
        # the schema's bounds and the 2^53 range, at the manifest's own field (audit 2026-12-01: a 500 before)
        ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: " + "a" * 1025 + "}]}\n",
         "spec.containers[0].image", "at most 1024 characters"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: " + "n" * 254 + "}]}\n",
         "spec.containers[0].name", "at most 253 characters"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, command: [" + "x, " * 257 + "x]}]}\n",
         "spec.containers[0].command", "at most 256 items"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, resources: {requests: {cpu: 1Ei}}}]}\n",
         "spec.containers[0].resources.requests.cpu", "'1Ei' is out of range"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, resources: {limits: {nvidia.com/gpu: 1e30}}}]}"
         "\n", "spec.containers[0].resources.limits.nvidia.com/gpu", "is out of range"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {overhead: {cpu: 1Ei}, containers: [{name: a}]}\n",
         "spec.overhead.cpu", "'1Ei' is out of range"),
        ("kind: Job\nmetadata: {name: j}\nspec: {parallelism: 99999999999999999999, template: {spec: {containers: "
         "[{name: a}]}}}\n", "spec.parallelism", "99999999999999999999 is more than Kubernetes allows here (int32"),
        ("kind: Deployment\nmetadata: {name: d}\nspec: {replicas: 2147483648, template: {spec: {containers: "
         "[{name: a}]}}}\n", "spec.replicas", "2147483648 is more than Kubernetes allows here (int32: at most "
         "2147483647)"),
        ("kind: CronJob\nmetadata: {name: c}\nspec: {schedule: '* * * * *', jobTemplate: {spec: {template: {metadata: "
         "{labels: {k: [1]}}, spec: {containers: [{name: a}]}}}}}\n",
         "spec.jobTemplate.spec.template.metadata.labels.k", "expected a string"),
        ("kind: Deployment\nmetadata: {name: d}\nspec: {template: {metadata: {labels: {k: {a: 1}}}, spec: {containers: "
         "[{name: a}]}}}\n", "spec.template.metadata.labels.k", "expected a string"),
        ("kind: CronJob\nmetadata: {name: c}\nspec: {schedule: 'H * * * *', jobTemplate: {spec: {template: {spec: "
         "{containers: [{name: a}]}}}}}\n", "spec.schedule",
         "cannot read the CronJob schedule 'H * * * *': 'h' is neither a number nor a month or weekday name"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: !!binary aGVsbG8=}]}\n",
         "spec.containers[0].image", "expected a string, got bytes"),  # was the image "b'hello'"
        ("kind: Pod\nmetadata: {name: p, labels: {k: !!set {a: null}}}\nspec: {containers: [{name: a}]}\n",
         "metadata.labels.k", "expected a string, got set"),
    ],
)
def test_malformed_input_names_document_and_field(doc: str, field: str | None, message: str) -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\n" + doc
    with pytest.raises(InputError) as err:
        requests_from_yaml(text, "bad.yaml")
    text_of_error = str(err.value)
    assert text_of_error.startswith("bad.yaml: document 2")
    assert message in text_of_error
    if field:
        assert field in text_of_error
    assert "\n" not in text_of_error


def test_error_names_the_workload() -> None:
    doc = "kind: Deployment\nmetadata: {name: web, namespace: shop}\nspec: {template: {spec: {containers: [{name: a, " \
          "resources: {limits: {memory: 1Qi}}}]}}}\n"
    with pytest.raises(InputError, match=r"document 1 \(Deployment shop/web\)"):
        requests_from_yaml(doc, "x.yaml")


def test_invalid_yaml_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"x.yaml: document 1: invalid YAML: .* at line"):
        requests_from_yaml("a: [1, 2\n", "x.yaml")


def test_alias_bomb_rejected_fast() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    with pytest.raises(TooLargeError, match="alias bomb"):
        requests_from_yaml("\n".join(lines), "bomb.yaml")


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, "".join("  " * i + "- \n" for i in range(2000)),
                                  "- " * 3000 + "x"])
def test_deep_nesting_rejected(text: str) -> None:
    with pytest.raises(TooLargeError, match="nested"):
        requests_from_yaml(text, "deep.yaml")


def test_minimal_request_and_pod_spec_form() -> None:
    minimal = InferenceRequest.model_validate(
        {"namespace": "a", "workload_kind": "Deployment", "workload_name": "w",
         "containers": [{"name": "c", "image": "i"}]}
    )
    done = complete_request(minimal)
    assert done.qos_class == "BestEffort" and done.effective_req_cpu_mcpu is None and done.replicas == 1
    form = InferenceRequest.model_validate({
        "namespace": "a", "workload_kind": "Deployment", "workload_name": "w", "replicas": 2,
        "pod_spec": {"containers": [{"name": "c", "image": "i",
                                     "resources": {"requests": {"cpu": "1.5", "memory": "90G"}}}]},
    })
    done = complete_request(form)
    assert done.pod_spec is None and done.replicas == 2
    assert done.effective_req_cpu_mcpu == 1500 and done.effective_req_mem_mib == pytest.approx(90e9 / MIB)
    with pytest.raises(InputError, match=r"pod_spec.containers\[0\].resources.requests.cpu: invalid quantity"):
        complete_request(InferenceRequest.model_validate({
            "workload_kind": "Pod", "workload_name": "p",
            "pod_spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "lots"}}}]}}))


def test_request_needs_containers_or_pod_spec() -> None:
    with pytest.raises(ValueError, match="containers"):
        InferenceRequest.model_validate({"workload_kind": "Pod", "workload_name": "p"})


@pytest.mark.parametrize("given", [
    {},
    {"qos_class": "Guaranteed"},
    {"effective_req_cpu_mcpu": 5.0, "effective_lim_mem_mib": 7.0},
    {"qos_class": "Burstable", "effective_req_cpu_mcpu": 1.0},
])
def test_completing_a_request_is_pydantics_copy_with_the_derived_fields(given: dict[str, object]) -> None:
    # complete_request copies the request with pydantic's internals written directly: it must be
    # what model_copy(update=...) builds, attribute for attribute, and leave the input untouched
    req = InferenceRequest.model_validate({
        "workload_kind": "Deployment", "workload_name": "w", "labels": {"app": "w"}, **given,
        "containers": [{"name": "a", "image": "i", "req_cpu_mcpu": 250, "lim_mem_mib": 512},
                       {"name": "b", "image": "j", "lim_cpu_mcpu": 100, "req_mem_mib": 64}]})
    before = req.model_dump()
    done = complete_request(req)
    derived = {"qos_class": "Burstable", "effective_req_cpu_mcpu": 350.0, "effective_req_mem_mib": 576.0,
               "effective_lim_cpu_mcpu": None, "effective_lim_mem_mib": None}
    expected = req.model_copy(update={k: v for k, v in derived.items() if k not in given})
    assert done is not req and req.model_dump() == before
    assert done.__dict__ == expected.__dict__ and list(done.__dict__) == list(expected.__dict__)
    assert done.__pydantic_fields_set__ == expected.__pydantic_fields_set__
    assert done.__pydantic_extra__ == expected.__pydantic_extra__
    assert done.__pydantic_private__ == expected.__pydantic_private__
    assert done == expected and done.model_dump_json() == expected.model_dump_json()
    assert done.model_dump(exclude_unset=True) == expected.model_dump(exclude_unset=True)
    assert {k: getattr(done, k) for k in derived} == {**derived, **given}


def test_plain_scalars_in_string_fields_read_as_written() -> None:
    """`enabled: true` is the label value "true" (Python's str() would say "True"), numbers and dates their text."""
    text = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {a: true, b: 1.5, c: 2024-01-01, d: 7}}\n"
            "spec: {containers: [{name: a, image: nginx}]}\n")
    labels = requests_from_yaml(text, "x.yaml").requests[0].labels
    assert labels == {"a": "true", "b": "1.5", "c": "2024-01-01", "d": "7"}
