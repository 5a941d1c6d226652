# Wiring only. The suite's plugin (options, parametrisation, pytest-benchmark hooks) loads through
# its pytest11 entry point; this adds the cluster endpoint fixtures of this repository.
pytest_plugins = ("fixtures.endpoints",)
