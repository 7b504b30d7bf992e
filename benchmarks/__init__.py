"""Speed and accuracy benchmarks (not run as tests)."""
