"""The exporters a real cluster's Prometheus scrapes, one module each: Kepler (both schemas),
kube-state-metrics, Karpenter and cAdvisor. Each declares its OpenMetrics families beside its writer."""
