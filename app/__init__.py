"""k8sPodPCP: predict the power and energy of a Kubernetes workload from its spec."""

__version__ = "0.1.0"
