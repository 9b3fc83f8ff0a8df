"""The plausibility rules fire exactly when their plain definitions say, for the resource rules whose
facts are gathered as aggregates (largest, smallest positive) rather than read value by value."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.schema import ContainerSpec, InferenceRequest
from app.workloads.convert import complete_request
from app.workloads.plausibility import implausible

TIB = 2**20
CPU = st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0, 250.0, 192_000.0, 192_001.0, 500_000.0]))
MEM = st.one_of(st.none(), st.sampled_from([0.0, 0.25, 1.0, 512.0, 4.0 * TIB, 4.0 * TIB + 1, 9.0 * TIB]))


@st.composite
def requests(draw: st.DrawFn) -> InferenceRequest:
    containers = [ContainerSpec(name=f"c{i}", image="nginx:1.27", req_cpu_mcpu=draw(CPU), lim_cpu_mcpu=draw(CPU),
                                req_mem_mib=draw(MEM), lim_mem_mib=draw(MEM))
                  for i in range(draw(st.integers(1, 3)))]
    return complete_request(InferenceRequest(workload_kind="Deployment", workload_name="w", containers=containers,
                                             gpu_count=draw(st.sampled_from([0, 0, 1, 4, 17]))))


def expected_resource_reasons(req: InferenceRequest) -> set[str]:
    """The rules as first written: any value of the pod (effective) or of a container, one by one."""
    pod_cpu = [v for v in (req.effective_req_cpu_mcpu, req.effective_lim_cpu_mcpu) if v is not None]
    pod_mem = [v for v in (req.effective_req_mem_mib, req.effective_lim_mem_mib) if v is not None]
    cpu = [v for c in req.containers for v in (c.req_cpu_mcpu, c.lim_cpu_mcpu) if v is not None]
    mem = [v for c in req.containers for v in (c.req_mem_mib, c.lim_mem_mib) if v is not None]
    gpus = req.gpu_count
    fired = {
        "CPU above 192 vCPU per pod (larger than ordinary nodes)": any(v > 192_000 for v in pod_cpu),
        "CPU set below 1 millicore": any(0 < v < 1 for v in cpu),
        "memory above 4 TiB per pod (larger than ordinary nodes)": any(v > 4 * TIB for v in pod_mem),
        "memory set below 1 MiB (no runtime starts in it)": any(0 < v < 1 for v in mem),
        "CPU and memory both set to zero": bool(pod_cpu) and bool(pod_mem) and max(pod_cpu) == 0 and max(pod_mem) == 0,
        "more than 16 GPUs in one pod": gpus > 16,
        "GPUs driven by less than 100 millicores per GPU": gpus > 0 and bool(pod_cpu) and max(pod_cpu) < 100 * gpus,
    }
    return {reason for reason, yes in fired.items() if yes}


@settings(max_examples=400, deadline=None)
@given(requests())
def test_resource_rules_match_their_plain_definitions(req: InferenceRequest) -> None:
    assert set(implausible(req)) == expected_resource_reasons(req)


def test_nonsense_images_are_flagged_whatever_their_tag() -> None:
    def flagged(image: str) -> bool:
        c = ContainerSpec(name="c", image=image, req_cpu_mcpu=100.0, req_mem_mib=128.0)
        return any("cannot be a real one" in r for r in implausible(complete_request(
            InferenceRequest(workload_kind="Deployment", workload_name="w", containers=[c]))))

    assert flagged("zzzz/qqqq:1.0") and flagged("zzzz/qqqq:2.0") and flagged("scratch:3")
    assert not flagged("nginx:1.27") and not flagged("ghcr.io/open-telemetry/demo:2.1.3-checkout")
