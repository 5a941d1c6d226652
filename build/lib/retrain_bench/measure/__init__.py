"""CPU and memory of a round: a process-tree sampler locally, Prometheus on clusters."""
