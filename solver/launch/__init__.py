"""Hand a deployment over: engine launch commands, expert maps, the orchestrator manifest."""
