"""Load instance files: TOML in, a validated `Instance` out.

An instance (scenario) file names a model and a hardware platform (or inlines
them), a hardware profile, a `[workload]` and a `[search]`, plus optional
`[overrides.model]` / `[overrides.hardware]`. References resolve by name in an
`instances/` folder (the instance file's own, or one above it, or the shipped
one) or as a path relative to the instance file. Nothing in a file is ever
executed or evaluated: TOML is parsed with the standard library and every
value is type- and range-checked against `formulations.types`.

Hardware profiles:
    sustained (default)  datasheet peaks times the `[efficiency]` factors
    datasheet            datasheet peaks, efficiency 1
    paper                the `[paper]` values of the AFD analysis, efficiency 1,
                         superpod traffic on scale-up whatever the deployment size
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from formulations.types import PROFILES, Hardware, Instance, Model, Search, Workload
from solver.errors import InputError
from solver.io import checks
from solver.io.schema import build

SHIPPED = Path(__file__).resolve().parents[2] / "instances"
TOP_KEYS = (
    "name",
    "description",
    "model",
    "hardware",
    "hardware_profile",
    "workload",
    "search",
    "overrides",
)
SECTIONS = ("model", "hardware", "workload", "search")
EFFICIENCY_KEYS = ("ffn", "attention", "hbm", "scaleup", "scaleout")
HARDWARE_FILE_KEYS = (
    {f.name for f in dataclasses.fields(Hardware)}
    - {
        "profile",
        "superpod_unbounded",
        "gemm_calibration",
    }
    - {f"{k}_efficiency" for k in EFFICIENCY_KEYS}
)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError([f"{path}: file not found"]) from None
    except IsADirectoryError:
        raise InputError([f"{path}: is a directory, expected a TOML file"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError([f"{path}: malformed TOML: {exc}"]) from None
    except UnicodeDecodeError:
        raise InputError([f"{path}: not a UTF-8 text file"]) from None


def parse_value(text: str) -> Any:
    """A `--set` value: a TOML value (number, bool, string, list, table), else a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_assignments(items: list[str], option: str = "--set") -> dict[str, Any]:
    """["workload.tpot_ms=30", ...] -> {"workload.tpot_ms": 30.0, ...}."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part.isidentifier() for part in key.split(".")):
            raise InputError(
                [f"{option} {item!r}: expected dotted.key=value, e.g. workload.tpot_ms=30"]
            )
        out[key] = parse_value(value.strip())
    return out


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any], origin: str) -> dict[str, Any]:
    """Put dotted overrides into a raw instance table (model./hardware. go to [overrides])."""
    raw = copy.deepcopy(raw)
    for key, value in overrides.items():
        parts = key.split(".")
        if parts[0] in ("model", "hardware") and len(parts) > 1:
            parts = ["overrides", *parts]
        elif parts[0] not in TOP_KEYS:
            raise InputError(
                [f"{origin}: {key}: unknown section '{parts[0]}'; allowed: {', '.join(SECTIONS)}"]
            )
        table = raw
        for part in parts[:-1]:
            nxt = table.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise InputError([f"{origin}: {key}: '{part}' is not a table"])
            table = nxt
        table[parts[-1]] = value
    return raw


def _search_roots(base: Path) -> list[Path]:
    roots = []
    for folder in (base, *base.parents):
        if (
            folder.name == "instances"
            or (folder / "models").is_dir()
            or (folder / "hardware").is_dir()
        ):
            roots.append(folder)
        if (folder / "instances").is_dir():
            roots.append(folder / "instances")
    roots.append(SHIPPED)
    return list(dict.fromkeys(roots))


def resolve(kind: str, ref: str, base: Path, origin: str) -> Path:
    """Find the `kind` ("models" or "hardware") file `ref` names."""
    candidate = (base / ref) if ref.endswith(".toml") or "/" in ref else None
    if candidate is not None:
        if candidate.is_file():
            return candidate
        raise InputError(
            [f"{origin}: {kind[:-1] if kind == 'models' else kind} = {ref!r}: no file {candidate}"]
        )
    known: set[str] = set()
    for root in _search_roots(base):
        path = root / kind / f"{ref}.toml"
        if path.is_file():
            return path
        known.update(p.stem for p in (root / kind).glob("*.toml"))
    field = "model" if kind == "models" else "hardware"
    raise InputError(
        [
            f"{origin}: {field} = {ref!r}: unknown {field}; "
            f"known: {', '.join(sorted(known)) or 'none'} "
            f"(or give a path relative to the instance file)"
        ]
    )


def _unknown_overrides(
    cls: type, section: str, overrides: dict[str, Any], origin: str
) -> list[str]:
    """Override keys that are not fields of `cls`, reported against the instance file."""
    names = [f.name for f in dataclasses.fields(cls)]
    return [
        f"{origin}: {section}.{key}: unknown field; allowed: {', '.join(names)}"
        for key in overrides
        if key not in names
    ]


def _model(
    raw: Any, base: Path, origin: str, overrides: dict[str, Any], problems: list[str]
) -> Model | None:
    start = len(problems)
    bad = _unknown_overrides(Model, "model", overrides, origin)
    if bad:
        problems.extend(bad)
        return None
    if isinstance(raw, str):
        path = resolve("models", raw, base, origin)
        table = read_toml(path)
        table.setdefault("name", path.stem)
        where = str(path)
    elif isinstance(raw, dict):
        table, where = dict(raw), origin
        table.setdefault("name", "inline")
    else:
        problems.append(f"{origin}: model must be a model name, a path, or a table")
        return None
    table.update(overrides)
    model = build(Model, table, where, "" if where != origin else "model", problems)
    if model is not None:
        problems.extend(f"{where}: {p}" for p in checks.check_model(model))
    return model if len(problems) == start else None


def _hardware(
    raw: Any, profile: str, base: Path, origin: str, overrides: dict[str, Any], problems: list[str]
) -> Hardware | None:
    bad = _unknown_overrides(Hardware, "hardware", overrides, origin)
    if bad:
        problems.extend(bad)
        return None
    if isinstance(raw, str):
        path = resolve("hardware", raw, base, origin)
        table = read_toml(path)
        table.setdefault("name", path.stem)
        where, section = str(path), ""
    elif isinstance(raw, dict):
        table, where, section = dict(raw), origin, "hardware."
        table.setdefault("name", "inline")
    else:
        problems.append(f"{origin}: hardware must be a hardware name, a path, or a table")
        return None
    efficiency = table.pop("efficiency", {})
    paper = table.pop("paper", {})
    calibration = table.pop("gemm_calibration", None)
    start = len(problems)
    for name, sub, allowed in (
        ("efficiency", efficiency, EFFICIENCY_KEYS),
        ("paper", paper, sorted(HARDWARE_FILE_KEYS)),
    ):
        if not isinstance(sub, dict):
            problems.append(f"{where}: {section}{name} must be a table")
            continue
        for key in sub:
            if key not in allowed:
                problems.append(
                    f"{where}: {section}{name}.{key}: unknown field; allowed: {', '.join(allowed)}"
                )
    if len(problems) > start:
        return None
    fields = {k: v for k, v in table.items()}
    if profile == "paper":
        fields.update(paper)
        fields["superpod_unbounded"] = bool(fields.get("superpod", False))
    elif profile == "sustained":
        fields.update({f"{k}_efficiency": v for k, v in efficiency.items()})
    if calibration is not None and profile == "sustained":
        fields["gemm_calibration"] = _calibration(calibration, where, section, problems)
    fields["profile"] = profile
    fields.update(overrides)
    hw = build(Hardware, fields, where, section.rstrip("."), problems)
    if hw is not None:
        problems.extend(f"{where}: {p}" for p in checks.check_hardware(hw))
    return hw if len(problems) == start else None


def _calibration(raw: Any, where: str, section: str, problems: list[str]) -> list[list[float]]:
    if not isinstance(raw, dict) or set(raw) != {"tokens_per_expert", "tflops"}:
        problems.append(
            f"{where}: {section}gemm_calibration must be a table with "
            "tokens_per_expert = [...] and tflops = [...]"
        )
        return []
    tpe, tflops = raw["tokens_per_expert"], raw["tflops"]
    if not (isinstance(tpe, list) and isinstance(tflops, list) and len(tpe) == len(tflops) >= 2):
        problems.append(
            f"{where}: {section}gemm_calibration: two lists of the same length (>= 2) expected"
        )
        return []
    return [[x, y] for x, y in zip(tpe, tflops, strict=True)]


def _resolve_loads(workload: Workload, base: Path, origin: str, problems: list[str]) -> Workload:
    """Make a loads CSV path absolute (relative to the instance file); specs stay as they are."""
    loads = str(workload.expert_loads)
    if workload.expert_imbalance != 1.0:
        problems.append(
            f"{origin}: workload.expert_imbalance and workload.expert_loads: give one of them "
            "(the loads determine the imbalance)"
        )
    is_path = loads.endswith(".csv") or "/" in loads or (base / loads).is_file()
    if not is_path:
        return workload
    path = Path(loads) if Path(loads).is_absolute() else base / loads
    if not path.is_file():
        problems.append(f"{origin}: workload.expert_loads = {loads!r}: no file {path}")
        return workload
    return dataclasses.replace(workload, expert_loads=str(path.resolve()))


def load_instance(path: str | Path, overrides: dict[str, Any] | None = None) -> Instance:
    """Read, resolve and validate an instance file (with optional dotted overrides)."""
    path = Path(path)
    origin = str(path)
    raw = read_toml(path)
    if overrides:
        raw = apply_overrides(raw, overrides, origin)
    return instance_from_table(raw, path.parent, origin, default_name=path.stem, path=str(path))


def instance_from_table(
    raw: dict[str, Any],
    base: Path,
    origin: str,
    default_name: str = "instance",
    path: str | None = None,
) -> Instance:
    """Validate a raw instance table; raise `InputError` listing every problem."""
    problems: list[str] = []
    for key in raw:
        if key not in TOP_KEYS:
            problems.append(f"{origin}: {key}: unknown field; allowed: {', '.join(TOP_KEYS)}")
    for key in ("model", "hardware", "workload"):
        if key not in raw:
            problems.append(f"{origin}: {key}: missing required field")
    profile = raw.get("hardware_profile", "sustained")
    if profile not in PROFILES:
        problems.append(
            f"{origin}: hardware_profile = {profile!r}: must be one of {', '.join(PROFILES)}"
        )
    over = raw.get("overrides", {})
    if not isinstance(over, dict) or any(k not in ("model", "hardware") for k in over):
        problems.append(
            f"{origin}: overrides: only [overrides.model] and [overrides.hardware] are allowed"
        )
        over = {}
    for key in ("workload", "search"):
        if key in raw and not isinstance(raw[key], dict):
            problems.append(f"{origin}: {key} must be a table [{key}]")
    if problems:
        raise InputError(problems)
    model = _model(raw["model"], base, origin, over.get("model", {}), problems)
    hardware = _hardware(raw["hardware"], profile, base, origin, over.get("hardware", {}), problems)
    workload = build(Workload, raw["workload"], origin, "workload", problems)
    search = build(Search, raw.get("search", {}), origin, "search", problems)
    if search is not None:
        problems.extend(f"{origin}: {p}" for p in checks.check_search(search))
    if workload is not None and workload.expert_loads is not None:
        workload = _resolve_loads(workload, base, origin, problems)
    if workload is not None and search is not None:
        problems.extend(f"{origin}: {p}" for p in checks.check_workload_search(workload, search))
    if problems or model is None or hardware is None or workload is None or search is None:
        raise InputError(problems or [f"{origin}: invalid instance"])
    name = raw.get("name", default_name)
    if not isinstance(name, str):
        raise InputError([f"{origin}: name must be a string"])
    return Instance(name, model, hardware, workload, search, path)
