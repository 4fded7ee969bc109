"""A seeded mutation fuzzer for instance, model, hardware and fleet files, command lines,
output paths and Python API calls.

Each case runs in-process through `solver.cli.main` (or a public function of `solver`) with
stdout and stderr captured and a wall-clock alarm, and is judged by the rules of issues 9
and 17:
- no traceback: nothing but `SystemExit` (argparse) may escape `main`, nothing but
  `InputError` (and its family) a public function;
- exit codes: `validate` 0 or 2, `solve` 0, 1 or 2, every command 0, 1 or 2;
- an exit 2 prints only `error:` lines (or argparse's usage and error);
- no hang past the alarm;
- `solve` exit 0 has a deployment and every number of a deployed row is finite and >= 0,
  with positive throughput;
- `validate` ok implies `solve` exits 0 or 1 (it gets past input checking);
- no write outside an output directory: a link planted where an output goes, a device given
  as an output, an empty path: the link's target, the device and the working directory stay
  as they were;
- an API call with one argument of a wrong type or value raises `InputError`, before work.

Shapes beyond values within known shapes (issue 17): integers of any number of digits
(`HugeInt`), magnitudes beyond a float, cross-field physics (accepted tokens per step beyond
what a step verifies, prices below the counted cent), links, devices and empty output paths,
API arguments of the wrong type.

The cases of issue 17's shapes beyond files and command lines (output paths, API calls,
fleet files) live in tests/fuzz_shapes.py, whose `Fuzzer` extends this one. Used by
tests/test_fuzz.py (a seeded slice in CI) and benchmarks/fuzz_campaign.py.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import random
import re
import shutil
import signal
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "instances"
ALARM_S = 60
"""A case running longer than this is a hang (the solve time limit is 10 s)."""

SCENARIO = {
    "name": "fuzz",
    "model": "fuzz-model",
    "hardware": "fuzz-hw",
    "hardware_profile": "paper",
    "workload": {"tpot_ms": 50, "mtp_acceptance": 1.7, "context_tokens": 4096, "step_gap_ms": 15},
    "search": {
        "attention_nodes": {"min": 1, "max": 6},
        "ffn_nodes": {"min": 1, "max": 3},
        "nodes": {"min": 1, "max": 8},
        "sequences_per_gpu": {"min": 1, "max": 512},
        "time_limit_s": 10,
    },
    "overrides": {"model": {"moe_intermediate_size": 2048}, "hardware": {"scaleout_gbps": 50}},
}


@dataclass(frozen=True)
class HugeInt:
    """An integer literal of `digits` nines (negative with `sign` -1), written as text: Python
    refuses to turn one of more than 4,300 digits into an int."""

    digits: int
    sign: int = 1


EXTREMES: list[Any] = [
    HugeInt(4301),
    HugeInt(310),
    HugeInt(5000, -1),
    HugeInt(100_000),
    10**400,
    0,
    -1,
    1,
    2,
    3,
    0.5,
    1e-300,
    1e308,
    -1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    2**63,
    2**64,
    10**30,
    -(2**63),
    7.25,
    "",
    "x" * 300,
    "zipf",
    True,
    False,
    [],
    {},
    [1, 2],
    [1, 2, 3],
    {"min": 1, "max": 10**9},
    {"min": 5, "max": 2},
    {"min": 1},
    {"max": 1e308},
    {"lo": 1},
    "deepseek-v3",
    "h800",
    "../../etc/passwd",
    "a\x00b",
    [[1, 2], [3, 4]],
    [[1, float("nan")], [2, 3]],
    ["afd", "afd"],
    ["ep"],
    ["gpu"],
    100_000,
    65_536,
    1_048_576,
    4096,
    1e10,
    1e-3,
    1e6,
    -0.0,
]
SCALES = [0.0, 1e-6, 0.1, 0.5, 2.0, 10.0, 1000.0, 1e6, -1.0]
PHYSICS = [(1.7, 1), (2.0, 1), (2.5, 1), (64, 1), (3, 3), (3.5, 3), (64, 64), (1.0, 64), (4, 1)]
"""(mtp_acceptance, tokens_per_step) pairs on both sides of what a step verifies."""
LOAD_SPECS = [
    "zipf:s=1.1,seed=7,layers=2",
    "uniform:layers=1",
    "lognormal:sigma=0.8,seed=3,layers=2",
    "zipf:layers=1000000",
    "zipf:s=1e300",
    "zipf:tokens=1e30",
    "zipf:layers=2,layers=3",
    "uniform:layers=1e9",
    "zipf:seed=-1",
    "pareto:a=2",
    "zipf:s=nan",
    "loads.csv",
    "bad.csv",
    "missing.csv",
    "huge.csv",
    "/dev/zero",
    "zipf:tokens=0",
    "uniform:tokens=8,layers=1",
]
CSV_FILES = {
    "loads.csv": "layer,expert,tokens\n0,0,100\n0,5,40\n1,3,7\n",
    "bad.csv": "layer,expert,tokens\n0,0,1e30\n",
    "huge.csv": "layer,expert,tokens\n0,1,9000000000000000000\n0,1,9000000000000000000\n",
}


# ---- TOML text --------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    if isinstance(value, HugeInt):
        return ("-" if value.sign < 0 else "") + "9" * value.digits
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string is a JSON string (escapes included)
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_scalar(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def to_toml(table: dict[str, Any]) -> str:
    """TOML text: scalars first, then one [section] per top-level table (one level deep,
    deeper tables inline), enough for instance, model and hardware files."""
    lines = [f"{_key(k)} = {_scalar(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for name, sub in table.items():
        if isinstance(sub, dict):
            lines.append(f"[{_key(name)}]")
            lines += [f"{_key(k)} = {_scalar(v)}" for k, v in sub.items()]
    return "\n".join(lines) + "\n"


# ---- mutations --------------------------------------------------------------------------


def _paths(table: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    if isinstance(table, dict):
        for key, value in table.items():
            out.append((*prefix, key))
            out += _paths(value, (*prefix, key))
    return out


def _get_parent(table: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    for part in path[:-1]:
        table = table.get(part)  # type: ignore[assignment]
        if not isinstance(table, dict):
            return None
    return table


def _bounds(section: str) -> dict[str, tuple[float | None, float | None, bool]]:
    """field -> (lower bound, upper bound, integer) of a section's numeric fields."""
    import dataclasses
    import typing

    from formulations.types import Hardware, IntRange, Model, Search, Workload

    cls = {"model": Model, "hardware": Hardware, "workload": Workload, "search": Search}[section]
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        integer = (
            int in typing.get_args(tp) or tp in (int, IntRange) or IntRange in typing.get_args(tp)
        )
        numeric = integer or tp is float or float in typing.get_args(tp)
        if numeric and f.metadata.get("le") is not None:
            lo = f.metadata.get("ge", f.metadata.get("gt"))
            out[f.name] = (lo, f.metadata["le"], integer)
    return out


def mutate_bound(table: dict[str, Any], section: str, rng: random.Random) -> str:
    """Set a numeric field to an edge of its allowed range (valid, but extreme)."""
    bounds = _bounds(section)
    name = rng.choice(sorted(bounds))
    lo, hi, integer = bounds[name]
    edge = rng.choice(["hi", "hi", "lo", "tiny", "just_above"])
    if edge == "hi":
        value: Any = hi
    elif edge == "lo":
        value = lo if lo is not None else 0
    elif edge == "tiny":
        value = 1 if integer else 1e-300
    else:
        value = (hi or 1) * rng.choice([0.5, 0.9, 1.0000001])
    if integer:
        value = int(value)
        if name in (
            "attention_nodes",
            "ffn_nodes",
            "nodes",
            "sequences_per_gpu",
            "redundant_experts",
            "experts_per_gpu",
            "afd_micro_batches",
            "ep_micro_batches",
        ):
            value = rng.choice(
                [value, {"min": 1 if name != "redundant_experts" else 0, "max": value}]
            )
    table[name] = value
    return f"bound {section}.{name} = {value}"


def mutate_table(table: dict[str, Any], rng: random.Random) -> str:
    """Mutate one place of a parsed table in place; return a description."""
    paths = _paths(table)
    path = rng.choice(paths) if paths else ("x",)
    parent = _get_parent(table, path)
    if parent is None:
        return "noop"
    key = path[-1]
    op = rng.choice(["delete", "extreme", "extreme", "scale", "unknown", "retype", "rename"])
    if op == "delete":
        parent.pop(key, None)
    elif op == "extreme":
        parent[key] = copy.deepcopy(rng.choice(EXTREMES))
    elif op == "scale":
        value = parent.get(key)
        factor = rng.choice(SCALES)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            parent[key] = factor
        elif isinstance(value, int) and factor.is_integer():
            parent[key] = int(value * factor)
        else:
            parent[key] = value * factor
    elif op == "unknown":
        parent[rng.choice(["bogus", key + "s", "tpot", "min", "efficiency"])] = rng.choice(
            [1, "a", 1.5]
        )
    elif op == "retype":
        value = parent.get(key)
        parent[key] = str(value) if not isinstance(value, str) else 5
    else:
        parent[key[:-1] or "k"] = parent.pop(key, None)
    return f"{op} {'.'.join(path)}"


def mutate_text(text: str, rng: random.Random) -> str:
    """Line-level damage: duplicate, drop, truncate, garbage, deep nesting."""
    lines = text.splitlines()
    op = rng.choice(["duplicate", "drop", "truncate", "garbage", "nest", "long"])
    i = rng.randrange(len(lines)) if lines else 0
    if op == "duplicate" and lines:
        lines.insert(i, lines[i])
    elif op == "drop" and lines:
        del lines[i]
    elif op == "truncate":
        return text[: rng.randrange(len(text) + 1)]
    elif op == "garbage":
        lines.insert(i, rng.choice(["= =", "[[[", "x = ", "\udcff = 1", "a.b.c = 1", "[workload]"]))
    elif op == "nest":
        depth = rng.choice([20, 200, 2000])
        lines.append("deep = " + "[" * depth + "]" * depth)
    else:
        lines.append(f'note = "{"y" * rng.choice([300, 5000, 100_000])}"')
    return "\n".join(lines) + "\n"


# ---- running cases ----------------------------------------------------------------------


class Hang(BaseException):
    """A case ran past the alarm (BaseException: no `except Exception` swallows it)."""


@dataclass
class Totals:
    cases: int = 0
    commands: int = 0
    outputs: int = 0
    api: int = 0
    fleets: int = 0
    exit_codes: Counter = field(default_factory=Counter)
    validated_ok: int = 0
    solved: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    """Per run: answered (exit 0/1, an API result), refused (exit 2, InputError), traceback,
    hang, unclean error, insane answer, write outside, api accepted."""
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def runs(self) -> int:
        return self.cases + self.commands + self.outputs + self.api + self.fleets

    def add(self, other: Totals) -> None:
        for name in ("cases", "commands", "outputs", "api", "fleets", "validated_ok"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.exit_codes.update(other.exit_codes)
        self.solved.update(other.solved)
        self.outcomes.update(other.outcomes)

    def summary(self) -> str:
        codes = dict(sorted(self.exit_codes.items(), key=str))
        solved = dict(sorted(self.solved.items(), key=str))
        outcomes = dict(sorted(self.outcomes.items()))
        return (
            f"{self.cases} files, {self.commands} command lines, {self.outputs} output paths, "
            f"{self.api} API calls, {self.fleets} fleet files; exit codes {codes}, "
            f"validate ok {self.validated_ok}, solve exits {solved}, outcomes {outcomes}, "
            f"{len(self.failures)} failures, {self.seconds:.1f} s"
        )

    def judge(self, code: int | str, err: str, debug: bool = False) -> str | None:
        """Count one command's outcome; the failure it is (or None)."""
        if code == "hang":
            self.outcomes["hang"] += 1
            return "hang"
        if isinstance(code, str):
            self.outcomes["traceback"] += 1
            return code
        if code not in (0, 1, 2):
            self.outcomes["traceback"] += 1
            return f"exit {code}"
        if code == 2 and not _clean_error(err, debug):
            self.outcomes["unclean error"] += 1
            return f"unclean error output {err[:300]!r}"
        self.outcomes["refused" if code == 2 else "answered"] += 1
        return None


def _alarm(signum: int, frame: Any) -> None:
    raise Hang()


def call(argv: list[str], alarm_s: int = ALARM_S) -> tuple[int | str, str, str]:
    """Run the CLI in-process: (exit code or 'traceback:...'/'hang', stdout, stderr)."""
    from solver.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(alarm_s)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code: int | str = main(argv)
            except SystemExit as stop:  # argparse: usage errors (2), --help/--version (0)
                code = stop.code if isinstance(stop.code, int) else 2
    except Hang:
        code = "hang"
    except Exception as exc:  # a traceback: what the fuzzer hunts
        code = f"traceback: {type(exc).__name__}: {exc}"[:300]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return code, out.getvalue(), err.getvalue()


def _clean_error(err: str, debug: bool = False) -> bool:
    lines = err.splitlines()
    if not lines:
        return False
    if lines[0].startswith("usage:"):  # argparse
        return "error:" in lines[-1]
    if debug:  # --debug adds the traceback before the error lines
        return lines[-1].startswith("error: ")
    return all(line.startswith("error: ") for line in lines)


POSITIVE = (
    "objective",
    "tokens_per_s_per_gpu",
    "tokens_per_s",
    "tpot_ms",
    "gpus",
    "nodes",
    "sequences_per_gpu",
    "micro_batches",
)
PRESENT = ("ffn_hfu", "ffn_ofu", "temporal_sparsity", "solve_s")
NON_FINITE_WORD = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)


def check_solve_rows(rows: list[dict[str, Any]], code: int = 0) -> str | None:
    """Why a solve's JSON is not sane, or None (exit 0 must come with a deployment)."""
    for row in rows:
        text = str(row.get("binding") or "")
        if NON_FINITE_WORD.search(text):
            return f"{row.get('architecture')} reason says {text[:200]!r}"
    deployed = [r for r in rows if r.get("status") in ("optimal", "feasible")]
    if code == 1:
        return "exit 1 with a deployment" if deployed else None
    if not deployed:
        return "exit 0 without a deployment"
    for row in rows:
        for key, value in row.items():
            if isinstance(value, float) and (not math.isfinite(value) or value < 0):
                return f"{row.get('architecture')} {key} = {value}"
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                return f"{row.get('architecture')} {key} = {value}"
    for row in deployed:
        for key in POSITIVE:
            value = row.get(key)
            if row.get("architecture") == "ep" and key == "nodes" and value is None:
                continue
            if value is None or not value > 0 or not math.isfinite(value):
                return f"{row.get('architecture')} {row.get('status')} with {key} = {value}"
        for key in PRESENT:
            if row.get(key) is None:  # JSON turns NaN and inf into null
                return f"{row.get('architecture')} {row.get('status')} with {key} = null"
    return None


FLEET: dict[str, Any] = {
    "name": "tiny",
    "workload": [
        {"name": "w", "model": "fuzz-model", "demand_tokens_per_s": 20000, "tpot_ms": 50,
         "context_tokens": 4096}
    ],
    "hardware": [{"name": "fuzz-hw", "price_per_gpu_hour": 2.0}],
    "search": {"architectures": ["ep"], "nodes": {"min": 1, "max": 4},
               "sequences_per_gpu": {"min": 1, "max": 256}, "time_limit_s": 5},
}  # fmt: skip
"""A one-workload, one-hardware fleet that sizes in about a second."""
FLEET_VALUES: list[Any] = [1e-5, 0.0001, 0.00004, 1e-300, 1e13, 1e10, 64, 2.5, 0, -8, "h800"]


class Fuzzer:
    """Files and command lines from one seed, run in a scratch directory
    (`fuzz_shapes.Fuzzer` adds output paths, API calls and fleet files)."""

    def __init__(self, workdir: Path, seed: int) -> None:
        self.rng = random.Random(seed)
        self.dir = workdir
        for kind in ("models", "hardware"):
            shutil.copytree(CATALOGUE / kind, workdir / kind, dirs_exist_ok=True)
        self.model = tomllib.loads((CATALOGUE / "models" / "deepseek-v3.toml").read_text())
        self.hardware = tomllib.loads((CATALOGUE / "hardware" / "h800.toml").read_text())
        for name, text in CSV_FILES.items():
            (workdir / name).write_text(text)
        self.totals = Totals()
        self.n = 0

    # -- files --

    def _write(self, rel: str, text: str) -> Path:
        path = self.dir / rel
        path.write_text(text, errors="surrogateescape")
        return path

    def make_case(self) -> tuple[Path, str]:
        """One mutated scenario (with its own model and hardware file); (path, description)."""
        rng = self.rng
        self.n += 1
        scenario = copy.deepcopy(SCENARIO)
        model, hardware = copy.deepcopy(self.model), copy.deepcopy(self.hardware)
        scenario["model"], scenario["hardware"] = f"m{self.n}", f"h{self.n}"
        scenario["hardware_profile"] = rng.choice(["paper", "sustained", "datasheet"])
        if rng.random() < 0.15:
            scenario["workload"]["expert_loads"] = rng.choice(LOAD_SPECS)
        if rng.random() < 0.1:
            scenario["search"]["redundant_experts"] = {"min": 0, "max": rng.choice([2, 8])}
        notes = []
        if rng.random() < 0.15:  # cross-field physics: accepted tokens against what is verified
            accept, per_step = rng.choice(PHYSICS)
            scenario["workload"].update(mtp_acceptance=accept, tokens_per_step=per_step)
            if rng.random() < 0.3:
                model["mtp_layers"] = rng.choice([0, 1, 3, 64])
            notes.append(f"physics L={accept} q={per_step} mtp={model.get('mtp_layers')}")
        target = rng.choice(["scenario", "scenario", "model", "hardware"])
        table = {"scenario": scenario, "model": model, "hardware": hardware}[target]
        for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
            notes.append(f"{target}: {mutate_table(table, rng)}")
        for _ in range(rng.choice([0, 0, 1, 1, 2])):  # valid but extreme values
            section = rng.choice(["model", "hardware", "workload", "search"])
            host = {"model": model, "hardware": hardware}.get(section) or scenario.setdefault(
                section, {}
            )
            if isinstance(host, dict):
                notes.append(mutate_bound(host, section, rng))
        texts = {
            "scenario": to_toml(scenario),
            "model": to_toml(model),
            "hardware": to_toml(hardware),
        }
        if rng.random() < 0.15:
            texts[target] = mutate_text(texts[target], rng)
            notes.append(f"{target}: text")
        self._write(f"models/m{self.n}.toml", texts["model"])
        self._write(f"hardware/h{self.n}.toml", texts["hardware"])
        path = self._write(f"case{self.n}.toml", texts["scenario"])
        return path, "; ".join(notes) or "unmutated"

    def run_file(self) -> None:
        path, what = self.make_case()
        t = self.totals
        t.cases += 1
        code, out, err = call(["validate", str(path)])
        t.exit_codes[f"validate {code}"] += 1
        problem = t.judge(code, err)
        if problem is None and code == 1:
            problem = "validate exit 1"
        if problem:
            t.failures.append(f"validate {path.name} ({what}): {problem} {err[-300:]}")
            return
        if code != 0:
            return
        t.validated_ok += 1
        code, out, err = call(["solve", str(path), "--format", "json", "--time-limit", "10"])
        t.solved[code] += 1
        problem = t.judge(code, err)
        if problem is None and code == 2:
            problem = "exit 2 after validate ok"
        if problem:
            t.failures.append(
                f"solve {path.name} ({what}) after validate ok: {problem} {err[-300:]}"
            )
            return
        problem = check_solve_rows(json.loads(out), int(code))
        if problem:
            t.outcomes["insane answer"] += 1
            t.failures.append(f"solve {path.name} ({what}): {problem}")

    # -- command lines --

    def _value(self) -> str:
        rng = self.rng
        return str(
            rng.choice(
                [
                    "0",
                    "-1",
                    "1",
                    "nan",
                    "inf",
                    "-inf",
                    "1e308",
                    "1e-300",
                    "2",
                    "3",
                    "8",
                    "64",
                    "18446744073709551616",
                    "9" * 5000,
                    "-" + "9" * 400,
                    "1e400",
                    "1_000",
                    "2\n3",
                    "abc",
                    "",
                    "1,2",
                    "0.5",
                    "100000",
                    "x" * 300,
                ]
            )
        )

    def make_argv(self) -> list[str]:
        rng = self.rng
        base = str(self.dir / "cmd.toml")
        if not Path(base).exists():
            self._write("cmd.toml", to_toml(SCENARIO))
            self._write("models/fuzz-model.toml", to_toml(self.model))
            self._write("hardware/fuzz-hw.toml", to_toml(self.hardware))
        self.n += 1
        out = str(self.dir / f"out{self.n}")
        existing = str(self.dir / "cmd.toml")
        keys = [
            "workload.tpot_ms",
            "search.nodes",
            "hardware.hbm_gb",
            "model.hidden_size",
            "search.time_limit_s",
            "workload.expert_loads",
            "search.architectures",
            "overrides.model",
            "model",
            "hardware",
            "search.unit_gpus",
            "nosuch.key",
            "workload",
            "search.redundant_experts",
            "hardware_profile",
        ]
        command = rng.choice(
            [
                "solve",
                "solve",
                "solve",
                "evaluate",
                "validate",
                "place",
                "imbalance",
                "sweep",
                "crossover",
                "reproduce",
                "pareto",
                "size",
                "bogus",
            ]
        )
        argv = [command] if command != "reproduce" else [command, "--only", "ffn_regimes"]
        if command == "size":
            argv.append(rng.choice([self._fleet(), self._fleet(), base, "/dev/zero"]))
        elif command not in ("reproduce", "bogus"):
            argv.append(rng.choice([base, base, base, str(self.dir), "/dev/zero", "nope.toml"]))
        options = {
            "solve": [
                "--time-limit",
                "--arch",
                "--backend",
                "--format",
                "--set",
                "--debug",
                "--scheduler",
                "--workers",
            ],
            "pareto": ["--tpot", "--time-limit", "--arch", "--out", "--force", "--set"],
            "size": ["--time-limit", "--workers", "--out", "--export", "--force", "--scheduler"],
            "evaluate": ["--deployment", "--set", "--format"],
            "validate": ["--set", "--debug"],
            "place": [
                "--loads",
                "--ranks",
                "--replicas",
                "--slots-per-rank",
                "--workers",
                "--time-limit",
                "--out",
                "--force",
            ],
            "imbalance": ["--sigmas", "--lambdas", "--set"],
            "sweep": [
                "--vary",
                "--workers",
                "--out",
                "--resume",
                "--force",
                "--set",
                "--scheduler",
            ],
            "crossover": ["--vary", "--tol", "--grid", "--set"],
            "reproduce": ["--out", "--force", "--format"],
            "bogus": ["--debug"],
        }[command]
        for option in rng.sample(options, rng.randint(0, min(3, len(options)))):
            if option in ("--debug", "--resume", "--force"):
                argv.append(option)
            elif option == "--set":
                argv += ["--set", f"{rng.choice(keys)}={self._value()}"]
            elif option == "--deployment":
                argv += [
                    option,
                    rng.choice(
                        [
                            "arch=ep,nodes=16,sequences_per_gpu=128",
                            "arch=afd,attention_nodes=4,ffn_nodes=2,sequences_per_gpu=100",
                            "arch=ep,nodes=16,nodes=4",
                            f"arch=ep,nodes={self._value()},sequences_per_gpu={self._value()}",
                            "arch=afd",
                            "garbage",
                            "arch=ep,nodes=1e308,sequences_per_gpu=1",
                        ]
                    ),
                ]
            elif option == "--out":
                argv += [
                    option,
                    rng.choice([out, out, existing, str(self.dir), "/dev/null/x", "", "/dev/null"]),
                ]
            elif option == "--vary":
                argv += [
                    option,
                    rng.choice(
                        [
                            "workload.tpot_ms=40,50",
                            "workload.tpot_ms=40:60",
                            "hardware.hbm_gb=70:90",
                            f"workload.tpot_ms={self._value()}",
                            "nosuch.x=1",
                            "search.nodes=1:100001:50000",
                            "workload.tpot_ms=1:1000:1,hardware.hbm_gb=1:1000:1",
                        ]
                    ),
                ]
            elif option == "--loads":
                argv += [option, rng.choice(LOAD_SPECS)]
            elif option == "--scheduler":
                argv += [option, rng.choice(["not a url", "host:port", "http://x y", "garbage"])]
            elif option == "--tpot":
                argv += [option, rng.choice(["40:60", "40:60", "60:40", "0:1e400", "a:b", "50"])]
            elif option == "--export":
                argv += [option, rng.choice([out, out, "", "/dev/null"])]
            elif option in ("--arch", "--backend", "--format"):
                argv += [
                    option,
                    rng.choice(
                        [
                            "afd",
                            "ep",
                            "afd,ep",
                            "afd,afd",
                            "gpu",
                            "highs",
                            "cpsat",
                            "json",
                            "csv",
                            "table",
                            "",
                        ]
                    ),
                ]
            else:
                argv += [option, self._value()]
        if command == "sweep" and "--vary" not in argv:
            argv += ["--vary", "workload.tpot_ms=40,50"]
        if command == "sweep":
            argv += ["--workers", "1"] if "--workers" not in argv else []
            argv += ["--out", out] if "--out" not in argv else []
        if command == "crossover" and "--vary" not in argv:
            argv += ["--vary", "workload.tpot_ms=40:60"]
        if command == "crossover":
            argv += ["--grid", "2"] if "--grid" not in argv else []
        if command == "place" and "--loads" not in argv:
            argv += ["--loads", "zipf:layers=1"]
        if command == "place" and "--workers" not in argv:
            argv += ["--workers", "1"]
        if command == "reproduce" and "--out" not in argv:
            argv += ["--out", out]
        if command == "pareto":  # a short range and a bound: the frontier stays cheap
            argv += ["--tpot", "40:60"] if "--tpot" not in argv else []
            argv += ["--time-limit", "10"] if "--time-limit" not in argv else []
        if command == "size":
            argv += ["--workers", "1"] if "--workers" not in argv else []
            argv += ["--time-limit", "10"] if "--time-limit" not in argv else []
        if command == "solve" and "--scheduler" in argv:
            argv.insert(2, argv[1])  # the scheduler serves several files
        return argv

    def run_command(self) -> None:
        argv = self.make_argv()
        t = self.totals
        t.commands += 1
        code, out, err = call(argv)
        t.exit_codes[f"{argv[0]} {code}"] += 1
        problem = t.judge(code, err, "--debug" in argv)
        if problem:
            t.failures.append(f"{' '.join(argv)[:300]}: {problem} {err[-300:]}")
        elif code == 0 and argv[0] == "solve" and "--format" in argv and "json" in argv:
            try:
                rows = json.loads(out)
            except json.JSONDecodeError:
                return
            problem = check_solve_rows(rows)
            if problem:
                t.outcomes["insane answer"] += 1
                t.failures.append(f"{' '.join(argv)[:300]}: {problem}")

    # -- the files command lines and the other kinds run on --

    def _base(self) -> str:
        """The valid scenario command lines run on (written once)."""
        base = self.dir / "cmd.toml"
        if not base.exists():
            self._write("cmd.toml", to_toml(SCENARIO))
            self._write("models/fuzz-model.toml", to_toml(self.model))
            self._write("hardware/fuzz-hw.toml", to_toml(self.hardware))
        return str(base)

    def _fleet(self, table: dict[str, Any] | None = None, name: str = "tiny.toml") -> str:
        self._base()
        return str(self._write(name, to_toml(table or copy.deepcopy(FLEET))))

    def run(
        self, files: int, commands: int, outputs: int = 0, api: int = 0, fleets: int = 0
    ) -> Totals:
        """Run the cases in a seeded order, in the scratch directory (so a write to the
        working directory is seen, and never lands in the checkout). Outputs, API calls and
        fleet files need `fuzz_shapes.Fuzzer`."""
        start = time.perf_counter()
        order = (
            ["file"] * files
            + ["command"] * commands
            + ["output"] * outputs
            + ["api"] * api
            + ["fleet"] * fleets
        )
        self.rng.shuffle(order)
        runs = {kind: getattr(self, f"run_{kind}") for kind in set(order)}
        here = os.getcwd()
        os.chdir(self.dir)
        try:
            for kind in order:
                runs[kind]()
        finally:
            os.chdir(here)
        self.totals.seconds = time.perf_counter() - start
        return self.totals
