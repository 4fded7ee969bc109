"""What each measurement row predicts for a candidate hardware (docs/model.md §19.2).

`build` checks every row against the hardware being calibrated (and the model, for attention
rows), loads each deployment row's scenario once, and returns a `Problem`: the measured values
and a `predict(hw)` that evaluates every row with the very forward model that `solve` uses.
Kernel rows go through `formulations.kernels`, vectorised per kind; a deployment row is
evaluated at its own pace with the calibrated hardware on every pool that runs on it (in the
sustained profile, whatever the scenario's profile).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from formulations import archspec, kernels, pairings
from formulations.costs import CostModel, Rates
from formulations.layouts import layout_eps
from formulations.metrics import metrics
from formulations.types import Deployment, Hardware, Instance, Model
from solver.calibration.measurements import Row, consistent_time_s
from solver.errors import AfdSolverError, InputError
from solver.io.checks import check_deployment_spec
from solver.io.deployment_spec import deployment_on_pairing
from solver.io.files import shipped_catalogue

QUANTITIES = ("time_us", "tokens_per_s_per_gpu", "tpot_ms")
"""What an observation compares: a kernel's time, or a deployment's throughput or TPOT."""


@dataclass(frozen=True)
class Observation:
    """One measured number: the row it comes from (index into the rows) and what it is."""

    row: int
    quantity: str
    measured: float


@dataclass(frozen=True)
class DeploymentCase:
    """A deployment row, loaded: the scenario on its pairing and which pools are calibrated."""

    inst: Instance
    deployment: Deployment
    eps: float
    attention_pool: bool
    ffn_pool: bool

    def on(self, hw: Hardware) -> Instance:
        """The scenario with `hw` on every pool that runs on the calibrated hardware."""
        att = hw if self.attention_pool else self.inst.hardware
        ffn = hw if self.ffn_pool else (self.inst.ffn_hardware or self.inst.hardware)
        return self.inst.replace(hardware=att, ffn_hardware=None if ffn == att else ffn)


@dataclass
class Problem:
    """Rows, their observations and the prediction of each for a candidate hardware."""

    rows: list[Row]
    observations: list[Observation]
    model: Model | None
    kernel_rows: dict[str, np.ndarray] = field(default_factory=dict)
    """Kind -> indices (into `observations`) of that kind's kernel observations."""
    kernel_inputs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    cases: dict[int, DeploymentCase] = field(default_factory=dict)
    """Observation index -> its deployment (deployment rows only)."""

    @property
    def measured(self) -> np.ndarray:
        return np.array([o.measured for o in self.observations])

    @property
    def weights(self) -> np.ndarray:
        """Each row weighs 1: a deployment row that gives both throughput and TPOT (the same
        information, by Little's law) weighs 1/sqrt(2) per observation."""
        rows = np.array([o.row for o in self.observations])
        per_row = np.bincount(rows, minlength=len(self.rows))
        return 1.0 / np.sqrt(per_row[rows])

    def predict(self, hw: Hardware) -> np.ndarray:
        """Every observation as the model predicts it on hardware `hw` (sustained rates)."""
        out = np.empty(len(self.observations))
        rates = Rates.of(hw, self.model)
        for kind, idx in self.kernel_rows.items():
            out[idx] = _kernel_time_us(kind, rates, self.model, self.kernel_inputs[kind])
        for i, case in self.cases.items():
            m = metrics(CostModel.for_deployment(case.on(hw), case.deployment), case.deployment)
            quantity = self.observations[i].quantity
            out[i] = m.tokens_per_s_per_gpu if quantity == "tokens_per_s_per_gpu" else m.tpot_ms
        return out


def _kernel_time_us(
    kind: str, rates: Rates, model: Model | None, x: dict[str, np.ndarray]
) -> np.ndarray:
    if kind == "grouped_gemm":
        t = kernels.grouped_gemm_time_s(
            rates, x["tokens_per_expert"], x["n"], x["k"], x["groups"], x["bytes_per_element"]
        )
    elif kind == "attention":
        assert model is not None
        t = kernels.attention_core_time_s(
            rates,
            model,
            x["batch"],
            x["context_tokens"],
            x["tokens_per_sequence"],
            x["bytes_per_element"],
        )
    elif kind.startswith("allreduce"):
        t = kernels.allreduce_time_s(
            rates, x["ranks"], x["tokens"], x["hidden"], x["bytes_per_element"]
        )
    else:
        direction = "dispatch" if kind.startswith("dispatch") else "combine"
        tier = kind.split(":", 1)[1]
        t = kernels.wire_time_s(
            rates, direction, tier, x["tokens"], x["hidden"], x["bytes_per_element"]
        )
    return np.asarray(t) * 1e6


def _lines(exc: AfdSolverError) -> list[str]:
    return list(getattr(exc, "problems", None) or str(exc).splitlines())


def _scenario_path(text: str, csv_dir: Path) -> Path | None:
    """A scenario path relative to the CSV, or a shipped scenario's name."""
    for candidate in (csv_dir / text, shipped_catalogue() / f"{text}.toml"):
        try:
            if candidate.is_file():
                return candidate
        except (OSError, ValueError):
            continue
    return None


def _case(
    row: Row, hw: Hardware, csv_dir: Path, where: str, cache: dict[Path, Instance]
) -> DeploymentCase:
    from solver.imbalance import imbalance_fn
    from solver.io.loader import load_instance

    text = row.texts["scenario"]
    path = _scenario_path(text, csv_dir)
    if path is None:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise InputError(
            [f"{where}: scenario: no file {shown!r} next to the CSV and no shipped scenario "
             "of that name"]
        )  # fmt: skip
    if path not in cache:
        try:
            cache[path] = load_instance(path)
        except AfdSolverError as exc:
            raise InputError([f"{where}: scenario {path}: {p}" for p in _lines(exc)]) from None
    inst = cache[path]
    spec = row.texts["deployment"]
    try:
        if problems := check_deployment_spec(spec, "deployment"):
            raise InputError(problems)
        on, d = deployment_on_pairing(spec, inst)
        att, ffn = on.hardware, on.ffn_hardware or on.hardware
    except AfdSolverError as exc:
        raise InputError([f"{where}: {p}" for p in _lines(exc)]) from None
    own_ffn = archspec.get(d.architecture).own_ffn_hardware
    on_att, on_ffn = att.name == hw.name, own_ffn and ffn.name == hw.name
    if not (on_att or on_ffn):
        runs = pairings.label((att, ffn))
        raise InputError(
            [f"{where}: scenario {path} runs {d.architecture} on {runs}, not on {hw.name}; a "
             "deployment row must use the hardware being calibrated"]
        )  # fmt: skip
    inst = pairings.on(inst, att, ffn)
    eps = layout_eps(imbalance_fn(inst), d, inst.search.unit_gpus)
    return DeploymentCase(inst, d, eps, on_att, on_ffn or (not own_ffn and on_att))


KERNEL_INPUTS = {
    "grouped_gemm": ("tokens_per_expert", "n", "k", "groups", "bytes_per_element"),
    "attention": (
        "batch",
        "context_tokens",
        "tokens_per_sequence",
        "bytes_per_element",
    ),
    "wire": ("tokens", "hidden", "bytes_per_element"),
    "allreduce": ("ranks", "tokens", "hidden", "bytes_per_element"),
}


def _kernel_flops(row: Row, model: Model | None, defaults: dict[str, float]) -> float:
    v = {**defaults, **row.values}
    if row.kind == "grouped_gemm":
        return float(
            kernels.grouped_gemm_flops(v["tokens_per_expert"], v["n"], v["k"], v["groups"])
        )
    assert model is not None
    return float(
        kernels.attention_core_flops(
            model, v["batch"], v["context_tokens"], v["tokens_per_sequence"]
        )
    )


def build(
    rows: list[Row],
    hw: Hardware,
    model: Model | None,
    csv_path: Path,
    problems: list[str] | None = None,
) -> Problem:
    """The problem of `rows` on hardware `hw`; InputError lists every row that cannot be used
    (with the `problems` found before, e.g. while reading the file)."""
    problems = [] if problems is None else problems
    observations: list[Observation] = []
    kernel_obs: dict[str, list[int]] = {}
    kernel_values: dict[str, list[dict[str, float]]] = {}
    cases: dict[int, DeploymentCase] = {}
    cache: dict[Path, Instance] = {}
    for index, row in enumerate(rows):
        where = f"{csv_path}:{row.line}"
        if row.kind == "deployment":
            try:
                case = _case(row, hw, csv_path.parent, where, cache)
            except InputError as exc:
                problems += exc.problems
                continue
            for quantity in ("tokens_per_s_per_gpu", "tpot_ms"):
                if quantity in row.values:
                    cases[len(observations)] = case
                    observations.append(Observation(index, quantity, row.values[quantity]))
            continue
        if row.kind == "attention" and model is None:
            problems.append(f"{where}: an attention row needs --model (its attention geometry)")
            continue
        defaults = _defaults(row.kind, model)
        measured_s: float | None
        if row.kind in ("grouped_gemm", "attention"):
            measured_s, problem = consistent_time_s(row, _kernel_flops(row, model, defaults), where)
            if problem:
                problems.append(problem)
                continue
        else:
            measured_s = row.values["time_us"] * 1e-6
        kind = (
            row.kind
            if row.kind in ("grouped_gemm", "attention")
            else f"{row.kind}:{row.texts['tier']}"
        )
        kernel_obs.setdefault(kind, []).append(len(observations))
        kernel_values.setdefault(kind, []).append({**defaults, **row.values})
        observations.append(Observation(index, "time_us", float(measured_s) * 1e6))  # type: ignore[arg-type]
    if problems:
        raise InputError(problems)
    inputs = {
        kind: {
            name: np.array([v[name] for v in values]) for name in KERNEL_INPUTS[_inputs_of(kind)]
        }
        for kind, values in kernel_values.items()
    }
    return Problem(
        rows=rows,
        observations=observations,
        model=model,
        kernel_rows={k: np.array(v) for k, v in kernel_obs.items()},
        kernel_inputs=inputs,
        cases=cases,
    )


def _inputs_of(kind: str) -> str:
    """The KERNEL_INPUTS key of a kernel kind (`dispatch:scale_out` -> wire)."""
    base = kind.split(":", 1)[0]
    return base if base in KERNEL_INPUTS else "wire"


def _defaults(kind: str, model: Model | None) -> dict[str, float]:
    """Values of the optional columns a row left empty."""
    if kind == "grouped_gemm":
        return {"groups": 1.0, "bytes_per_element": model.expert_weight_bytes if model else 1.0}
    if kind == "attention":
        return {
            "tokens_per_sequence": 1.0,
            "bytes_per_element": model.kv_cache_bytes if model else 1.0,
        }
    return {}
