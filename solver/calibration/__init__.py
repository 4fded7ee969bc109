"""Calibration: fit the cost model's hardware parameters to a team's measurements
(`afd-solver calibrate`, docs/model.md §19): reading rows, predicting them, fitting, reporting."""
