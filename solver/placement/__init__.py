"""Expert placement orchestration around `formulations.placement`: per-layer programs."""
