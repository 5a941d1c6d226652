"""A toy orchestrator with a cluster side: an HTTP control plane that runs the pipeline as pods."""
