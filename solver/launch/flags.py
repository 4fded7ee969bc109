"""The serving engines' flag lists, kept as fact files in `solver/launch/flags/`.

Each file names the engine version and where its flags were read (see its header); every flag
a launch configuration uses must be in the list of the version it targets, and
`tests/test_launch.py` fails on one that is not. TensorRT-LLM's file also lists the dotted
keys of its YAML config, prefixed `config:`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

ENGINE_FILES = {
    "sglang": "sglang-0.5.23.txt",
    "vllm": "vllm-0.33.0.txt",
    "trtllm": "trtllm-main-00209af.txt",
}
"""The pinned fact file of each engine."""

ENGINE_VERSIONS = {
    "sglang": "SGLang 0.5.23",
    "vllm": "vLLM 0.33.0",
    "trtllm": "TensorRT-LLM main @ 00209af",
}

CONFIG_PREFIX = "config:"


@dataclass(frozen=True)
class FlagList:
    """One engine's pinned flags (`--name`) and config keys (`a.b.c`)."""

    engine: str
    version: str
    source: str
    flags: frozenset[str]
    config_keys: frozenset[str]


@functools.cache
def flag_list(engine: str) -> FlagList:
    """The fact file of `engine` (one of `ENGINE_FILES`), parsed."""
    text = resources.files("solver.launch").joinpath("flags", ENGINE_FILES[engine]).read_text()
    header = [line[1:].strip() for line in text.splitlines() if line.startswith("#")]
    names = [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]
    return FlagList(
        engine=engine,
        version=ENGINE_VERSIONS[engine],
        source=" ".join(header),
        flags=frozenset(n for n in names if not n.startswith(CONFIG_PREFIX)),
        config_keys=frozenset(
            n[len(CONFIG_PREFIX) :] for n in names if n.startswith(CONFIG_PREFIX)
        ),
    )


def flags_of(argv: list[str]) -> list[str]:
    """The option names of a command line (`--x=1` and `--x 1` both give `--x`)."""
    return [a.split("=", 1)[0] for a in argv if a.startswith("--")]


def config_keys(config: dict, prefix: str = "") -> list[str]:
    """Every dotted key path of a nested config, parents included; the values under
    `initial_global_assignments` are layer numbers (data, not keys)."""
    keys = []
    for key, value in config.items():
        path = f"{prefix}{key}"
        keys.append(path)
        if isinstance(value, dict) and not path.endswith("initial_global_assignments"):
            keys += config_keys(value, f"{path}.")
    return keys


def unknown(engine: str, argv: list[str], config: dict | None = None) -> list[str]:
    """Flags of `argv` and keys of `config` that the pinned list of `engine` does not have."""
    pinned = flag_list(engine)
    bad = [f for f in flags_of(argv) if f not in pinned.flags]
    if config is not None:
        bad += [f"{CONFIG_PREFIX}{k}" for k in config_keys(config) if k not in pinned.config_keys]
    return bad
