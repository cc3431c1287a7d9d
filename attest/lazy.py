"""Package exports loaded on first use (PEP 562), so importing a package stays cheap.

A package whose modules pull in heavy libraries (pyserial, pymavlink, paramiko)
still exports their names from its ``__init__``; the module behind a name is
imported only when the name is first read. Type checkers see the names through
``if TYPE_CHECKING:`` imports beside the call.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package`` that imports ``names[name]`` (a module) on first use.

    Args:
        package: the package's ``__name__``, for error messages.
        names: exported name -> the module that defines it.
    """

    def __getattr__(name: str) -> object:  # noqa: N807 - the PEP 562 hook's name
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
