"""Fault injection for the suite's own tests; never on a user's path.

Put this directory on PYTHONPATH and set RETRAIN_BENCH_FAULT=<counter file>:<n>; the n-th
``make_data`` call across all processes then raises, as a broken pipeline step would. The
launcher passes PYTHONPATH on, so this reaches the round's process exactly as user code would.
"""

import os

_spec = os.environ.get("RETRAIN_BENCH_FAULT")
if _spec:
    import retrain_bench.workload.retraining as _retraining

    _counter, _, _nth = _spec.rpartition(":")
    _original = _retraining.make_data

    def make_data(case):  # type: ignore[no-untyped-def]
        fd = os.open(_counter, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.write(fd, b".")
        # With O_APPEND the write lands at the end atomically and leaves this descriptor's offset
        # just past it: our call's number, even when concurrent executions append at once.
        call = os.lseek(fd, 0, os.SEEK_CUR)
        os.close(fd)
        if call == int(_nth):
            raise RuntimeError(f"injected fault in make_data call {_nth}")
        return _original(case)

    _retraining.make_data = make_data
