"""Which collector measures a target string (:func:`attest.targets.target_kind`).

Each transport's collector package provides ``from_target(target, options)``;
it is imported only when used, so a dock without, say, SSH targets never
loads paramiko, and ``attest verify`` on a directory never loads pymavlink.
"""

from __future__ import annotations

import importlib
from typing import Protocol, cast

from attest.collectors.base import Collector
from attest.targets import TargetOptions, target_kind

__all__ = ["open_collector"]


class _Factory(Protocol):
    def __call__(self, target: str, options: TargetOptions) -> Collector: ...


#: target kind -> collector package providing ``from_target``
_PACKAGES = {
    "serial": "attest.collectors.mavlink",
    "ssh": "attest.collectors.ssh",
    "dji": "attest.collectors.dji",
    "adb": "attest.collectors.adb",
}


def open_collector(target: str, options: TargetOptions | None = None) -> Collector:
    """The collector for ``target``.

    Raises:
        ConfigError: a malformed target string.
    """
    opts = options or TargetOptions()
    kind = target_kind(target)
    if kind == "directory":
        from attest.collectors.directory import DirectoryCollector

        return DirectoryCollector(target, workers=opts.workers)
    module = importlib.import_module(_PACKAGES[kind])
    factory = cast("_Factory", module.from_target)
    return factory(target, opts)
