"""The collector: watch a cluster (or one node's kubelet) and stream `InferenceRequest`s.

An adapter layer: it talks to the Kubernetes API server (official `kubernetes` client) or to a
kubelet (httpx), converts each object once at the boundary (`objects.from_raw` →
`app.workloads.convert.request_from_object`), and emits a workload only when its template hash
changes (`tracker.Tracker`), to NDJSON files and/or the prediction API (`sinks`).
"""
