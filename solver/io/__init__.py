"""Loading and validating input files: instance TOML, schema, cross-field checks, expert loads."""
