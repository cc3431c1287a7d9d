"""Shared by the benchmarks: the generated test tree, best-of-N / median-of-N timing, the CLI's environment."""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def make_tree(root: Path, files: int, total: int, *, seed: int) -> list[str]:
    """Files of Pareto-distributed sizes (many small, a few large, like a root filesystem).

    Every file is distinct (its index is appended). Files already of the right size are kept,
    so a second run reuses the tree. Returns the relative paths.
    """
    rng = random.Random(seed)
    weights = [rng.paretovariate(1.2) for _ in range(files)]
    scale = total / sum(weights)
    sizes = [max(1, int(w * scale)) for w in weights]
    block = rng.randbytes(1 << 20)
    rels = []
    for i, size in enumerate(sizes):
        rel = f"d{i % 50:02d}/s{i // 50 % 10}/f{i:05d}.bin"
        rels.append(rel)
        p = root / rel
        if p.exists() and p.stat().st_size == size + 8:
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        with p.open("wb") as f:
            left = size
            while left:
                n = min(left, len(block))
                f.write(block[:n])
                left -= n
            f.write(i.to_bytes(8, "big"))  # every file distinct
    return rels


def best(fn: Callable[[], object], repeat: int) -> float:
    """The shortest of ``repeat`` timed calls of ``fn``, in seconds."""
    return min(timings(fn, repeat))


def timings(fn: Callable[[], object], repeat: int) -> list[float]:
    """Seconds taken by each of ``repeat`` calls of ``fn``, in call order."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def median(fn: Callable[[], object], repeat: int) -> float:
    """The median of ``repeat`` timed calls of ``fn``, in seconds (robust to one disturbed run)."""
    return statistics.median(timings(fn, repeat))


def cli_env(pycache: Path, *, compile_each_run: bool = False, **extra: str) -> dict[str, str]:
    """The environment for timed ``attest`` runs: bytecode cached, as an installed package has it.

    pip compiles a package's bytecode when it installs it; a developer shell (or CI) may set
    ``PYTHONDONTWRITEBYTECODE``, which would make every timed start compile every module
    (~60 ms for ``attest verify`` over SSH). The cache goes to ``pycache`` (one untimed
    warm-up run fills it); ``compile_each_run`` measures the uncached start instead.
    """
    env = {**os.environ, **extra}
    if compile_each_run:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env
