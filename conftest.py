# Wiring only: the suite's plugin (options, parametrisation, pytest-benchmark hooks).
pytest_plugins = ("bench.plugin",)
