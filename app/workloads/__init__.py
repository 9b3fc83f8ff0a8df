"""Kubernetes manifests → InferenceRequest: the only place that reads raw Kubernetes dicts."""
