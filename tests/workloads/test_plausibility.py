"""The plausibility rules fire exactly when their plain definitions say, for the resource rules whose
facts are gathered as aggregates (largest, smallest positive) rather than read value by value, each
sampled on both sides of its bound."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.schema import ContainerSpec, InferenceRequest
from app.workloads.convert import complete_request
from app.workloads.plausibility import implausible

TIB = 2**20
GB_1360 = 1_360e9 / 2**20  # MiB
CPU = st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0, 250.0, 96_000.0, 96_001.0, 192_000.0, 192_001.0,
                                            500_000.0]))
MEM = st.one_of(st.none(), st.sampled_from([0.0, 0.25, 1.0, 3.9, 4.0, 512.0, GB_1360, GB_1360 + 1, 2.0 * TIB,
                                            2.0 * TIB + 1, 4.0 * TIB, 4.0 * TIB + 1, 9.0 * TIB]))
GPU_FREE = "nginx:1.27"  # a web server: runs no GPU code


@st.composite
def requests(draw: st.DrawFn) -> InferenceRequest:
    containers = [ContainerSpec(name=f"c{i}", image=draw(st.sampled_from([GPU_FREE, "ghcr.io/acme/trainer:1"])),
                                req_cpu_mcpu=draw(CPU), lim_cpu_mcpu=draw(CPU), req_mem_mib=draw(MEM),
                                lim_mem_mib=draw(MEM))
                  for i in range(draw(st.integers(1, 3)))]
    return complete_request(InferenceRequest(workload_kind="Deployment", workload_name="w", containers=containers,
                                             gpu_count=draw(st.sampled_from([0, 0, 1, 4, 8, 9, 16, 17])),
                                             replicas=draw(st.sampled_from([1, 1, 4_999, 5_001, 100_000]))))


def expected_resource_reasons(req: InferenceRequest) -> set[str]:
    """The rules as first written: any value of the pod (effective) or of a container, one by one."""
    pod_cpu = [v for v in (req.effective_req_cpu_mcpu, req.effective_lim_cpu_mcpu) if v is not None]
    pod_mem = [v for v in (req.effective_req_mem_mib, req.effective_lim_mem_mib) if v is not None]
    cpu = [v for c in req.containers for v in (c.req_cpu_mcpu, c.lim_cpu_mcpu) if v is not None]
    mem = [v for c in req.containers for v in (c.req_mem_mib, c.lim_mem_mib) if v is not None]
    gpus, pods = req.gpu_count, req.replicas
    top_cpu, top_mem = max(pod_cpu, default=0.0), max(pod_mem, default=0.0)
    fired = {
        "CPU above 192 vCPU per pod (larger than ordinary nodes)": any(v > 192_000 for v in pod_cpu),
        "CPU set below 1 millicore": any(0 < v < 1 for v in cpu),
        "memory above 4 TiB per pod (larger than ordinary nodes)": any(v > 4 * TIB for v in pod_mem),
        "memory set below 1 MiB (no runtime starts in it)": any(0 < v < 1 for v in mem),
        "CPU and memory both set to zero": bool(pod_cpu) and bool(pod_mem) and max(pod_cpu) == 0 and max(pod_mem) == 0,
        "more than 16 GPUs in one pod": gpus > 16,
        "GPUs driven by less than 100 millicores per GPU": gpus > 0 and bool(pod_cpu) and max(pod_cpu) < 100 * gpus,
        # a whole cluster: 5,000 nodes of 192 vCPU, 4 TiB and 16 GPUs
        "a memory limit below 4 MiB (no container starts in it)":
            any(c.lim_mem_mib is not None and 0 < c.lim_mem_mib < 4 for c in req.containers),
        "more CPU in total than a whole cluster has (replicas × CPU above 5,000 nodes × 192 vCPU)":
            pods * top_cpu > 5_000 * 192_000,
        "more memory in total than a whole cluster has (replicas × memory above 5,000 nodes × 4 TiB)":
            pods * top_mem > 5_000 * 4 * TIB,
        "more GPUs in total than a whole cluster has (replicas × GPUs above 5,000 nodes × 16)": pods * gpus > 80_000,
        "GPUs with more than 2 TiB of memory (no GPU node has more)": gpus > 0 and top_mem > 2 * TIB,
        "more than 8 GPUs with more than 96 vCPU or 1,360 GB of memory (what 16-GPU nodes have)":
            gpus > 8 and (top_cpu > 96_000 or top_mem > GB_1360),
        "GPUs for software that runs no GPU code (every container is a known cache, database, queue, web server, "
        "proxy, agent or shell)": gpus > 0 and all(c.image == GPU_FREE for c in req.containers),
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
