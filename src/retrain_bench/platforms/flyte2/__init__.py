"""Flyte 2 (the ``flyte`` 2.x SDK) as a platform: its local run mode, in the platform's own environment."""
