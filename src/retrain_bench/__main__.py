from retrain_bench import early_signals

early_signals.hold()  # before the CLI's imports: a signal now is held, not a traceback (docs/reliability.md)

from retrain_bench.cli.main import main  # noqa: E402

raise SystemExit(main())
