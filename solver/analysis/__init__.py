"""Sensitivity analyses around `solve`: sweeps, their engine and store, crossovers, plots."""
