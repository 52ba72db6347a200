"""Benchmarks of xai_defer_magic against the offline emulator: ``python -m benchmarks.run``.

Every figure is measured in the run that reports it (medians and side-by-side ratios); nothing
is hard-coded. See benchmarks/README.md for what each benchmark measures and how.
"""
