"""The architectures the solver compares, behind one small interface (docs/model.md §11).

An architecture is a module with:
    NAME, MICRO_BATCHES_FIELD        its name and the Search field of its micro-batch counts
    Stages, stages(...), deployment_stages(cm, d, eps), checks(cm, stages)   forward model
    layouts(cm, micro_batches, search, imbalance)                            its layouts
    quantities(cm, layouts, batch, x), family_quantity(cm, layouts, family, x)  for the caps
    single_layout(cm, deployment, eps, search)                               one deployment's layout
    read_deployment(layouts, c, serving, sequences)                          solution -> Deployment
    unit_sizes(inst)                    the unit sizes to branch on (TP's t; others: the search's)
    deployment_problems(inst, d)        what makes a given deployment not one of this architecture
    layout_stages(cm, layouts, idx, serving, sequences)                      candidates, vectorised
and its constraint families in `formulations.families`. The integer program, the stage-level
scheme, pruning, diagnostics, metrics and the oracle are written once against this interface, so a
third architecture is one new module plus its families.
"""

from __future__ import annotations

from types import ModuleType

from formulations import afd, ep, tp

MODULES: dict[str, ModuleType] = {afd.NAME: afd, ep.NAME: ep, tp.NAME: tp}


def get(name: str) -> ModuleType:
    """The module of architecture `name`."""
    try:
        return MODULES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(MODULES)}") from None
