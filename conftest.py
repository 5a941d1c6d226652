# Wiring only: the suite's plugin (options, parametrisation, pytest-benchmark hooks) and the
# cluster endpoint fixtures.
pytest_plugins = ("bench.plugin", "fixtures.endpoints")
