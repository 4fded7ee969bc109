"""`solve --uncertainty`: sample the hardware, solve each sample, and say how sure the verdict is
(docs/model.md §19.4-§19.5)."""

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    """Importing this package binds it as `solver.uncertainty`, the name of the API function
    (`solver.uncertainty(path, samples, ...)`): the package answers the call the same way, so
    the API works whatever has been imported before."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from solver.uncertainty.run import uncertainty

        return uncertainty(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
