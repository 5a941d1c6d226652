"""The pipeline on Flyte 2 (``flyte`` 2.x): async tasks of one ``TaskEnvironment``, the branch in plain Python."""
