"""One attestation: trust the baseline, measure the device, compare; always a :class:`Result`.

This is the pipeline behind ``attest verify`` (and each part of a dock event).
It never raises for anything a device, a file or the clock can do: every way a
run can end is a :class:`~attest.model.Result` with a verdict and so an exit code,
which the caller can sign and log.

* a baseline that is unreadable, unsigned, expired, rolled back, or for
  another device: ``untrusted`` (exit 4);
* a device that cannot be reached, answers wrongly, or stops answering:
  ``error`` (exit 3);
* the whole run not finished within ``max_seconds``: ``error`` (exit 3),
  whatever the device is doing. The measuring runs in a worker thread that is
  abandoned (a daemon thread: it cannot keep the process alive); every wait in
  the collectors is bounded too, so it ends by itself soon after;
* a defect of ours (an unexpected exception): ``error`` with the exception's
  type in the message. Fail closed: a bug is never a pass, and it is logged.

Every result names the device the same way (:meth:`Collector.fallback_identity`):
a result with evidence by what the device reported, one without it by what the
collector learned before it failed, else by the baseline's device selector and
components, else by the canonical target. A baseline refused for its expiry
or rollback still has valid signatures, so its selector names the device too;
one without enough valid signatures is never parsed, not even for a name.

Configuration problems (an unreadable trust policy, a malformed target, an
option the target refuses) raise :class:`~attest.errors.ConfigError` (exit 2):
they are the caller's to fix, and no result is made.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from attest.baseline import Baseline
from attest.collectors import Collector, open_collector
from attest.errors import AttestError, BaselineError, CollectionError, ConfigError, TransportError
from attest.model import BaselineRef, DeviceIdentity, Result, Verdict
from attest.progress import NullProgress, Progress
from attest.targets import TargetOptions
from attest.trust import (
    RollbackState,
    TrustedBaseline,
    TrustPolicy,
    read_baseline_file,
    trust_baseline,
    verify_envelope,
)
from attest.verifier import verify

__all__ = ["Attestation", "device_identity", "run_attestation"]


@dataclass(frozen=True)
class Attestation:
    """What to attest: a device against a signed baseline.

    Attributes:
        target: the device (a directory, ``/dev/tty*``, ``socket://``, ``ssh://``).
        baseline: the signed baseline file.
        policy: who may sign baselines.
        state: the dock's rollback state.
        options: transport options.
        nonce: the run's fresh value.
        max_seconds: the whole run's deadline, or ``None`` for none.
        bundles: Sigstore bundle files over the baseline's payload; each
            counts toward the threshold for the policy's Sigstore signer it
            names (an unreadable or oversized one: ``untrusted``).
    """

    target: str
    baseline: Path
    policy: TrustPolicy
    state: RollbackState
    nonce: str
    options: TargetOptions = field(default_factory=TargetOptions)
    max_seconds: float | None = None
    bundles: tuple[Path, ...] = ()


def _ref(trusted: TrustedBaseline | None) -> BaselineRef:
    if trusted is None:
        return BaselineRef(None, None, None)
    b = trusted.baseline
    return BaselineRef(b.name, b.version, trusted.digest)


class _Run:
    """The measuring half, on a worker thread; its outcome is read only after it finished."""

    def __init__(self, job: Attestation, progress: Progress) -> None:
        self.job = job
        self.progress = progress
        self.trusted: TrustedBaseline | None = None
        self.collector: Collector | None = None
        self.data: bytes | None = None
        self.bundles: list[bytes] = []  # the --bundle files, read once after the baseline
        self.signed: Baseline | None = None  # a refused baseline whose signatures verify
        self.result: Result | None = None
        self.config_error: ConfigError | None = None
        self.done = threading.Event()

    def identity(self) -> DeviceIdentity:
        """Who the device is, for a result without evidence: the collector's best knowledge, else the target."""
        if self.collector is None:
            return DeviceIdentity(kind="unknown", id=self.job.target, target=self.job.target)
        baseline = self.trusted.baseline if self.trusted is not None else self.signed
        if baseline is None:
            return self.collector.fallback_identity(self.job.target, {})
        return self.collector.fallback_identity(self.job.target, baseline.device_match, expected=baseline.components)

    def read_signed(self) -> None:
        """After the trust check refused the baseline: keep it if its signatures verify (expired, rolled back)."""
        if self.data is None:
            return
        try:
            env, _ = verify_envelope(self.data, self.job.policy, source=str(self.job.baseline), bundles=self.bundles)
            self.signed = Baseline.from_payload(env.payload, source=str(self.job.baseline))
        except AttestError:
            pass  # not signed by enough trusted keys: nothing in it names the device

    def __call__(self) -> None:
        job = self.job
        try:
            # The collector first: it touches no device yet, and names the device in any result.
            self.collector = collector = open_collector(job.target, job.options)
            self.data = read_baseline_file(job.baseline)
            if job.bundles:  # Sigstore's module is loaded only for a run with bundles
                from attest.trust import read_bundle_file

                self.bundles = [read_bundle_file(path, payload_size=len(self.data)) for path in job.bundles]
            self.trusted = trust_baseline(
                self.data, policy=job.policy, state=job.state, source=str(job.baseline), bundles=self.bundles
            )
            evidence = collector.collect(
                self.trusted.baseline.collection,
                nonce=job.nonce,
                device_match=self.trusted.baseline.device_match,
                progress=self.progress,
                expected=self.trusted.baseline.components,
            )
            self.result = verify(evidence, self.trusted)
        except BaselineError as e:
            if self.trusted is None:
                self.read_signed()
            self.result = Result(Verdict.UNTRUSTED, self.identity(), _ref(self.trusted), message=str(e))
        except (TransportError, CollectionError) as e:
            self.result = Result(Verdict.ERROR, self.identity(), _ref(self.trusted), message=str(e))
        except ConfigError as e:  # a bad target or option: the caller's usage error (exit 2)
            self.config_error = e
        except Exception as e:  # noqa: BLE001 - fail closed: a defect is an error result, logged, never a pass
            message = f"internal error ({type(e).__name__}: {e}); please report it"
            self.result = Result(Verdict.ERROR, self.identity(), _ref(self.trusted), message=message)
        finally:
            self.done.set()


class _GcPause:
    """Pause Python's cyclic garbage collector while runs are in progress.

    A run builds tens of thousands of long-lived objects (a baseline's
    components, the evidence) and no garbage cycles worth collecting (reference
    counting frees the rest); each collection pass would walk all of them
    holding the GIL, stalling the hashing threads (~15 ms a run on a
    5,550-component directory). Runs may overlap (a dock attests its parts in
    parallel): the first to start pauses the collector, the last to end
    restores it as it was.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs = 0
        self._was_enabled = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._runs == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._runs += 1
        try:
            yield
        finally:
            with self._lock:
                self._runs -= 1
                if self._runs == 0 and self._was_enabled:
                    gc.enable()


_gc_paused = _GcPause()


def run_attestation(job: Attestation, *, progress: Progress | None = None) -> Result:
    """Attest ``job.target`` against ``job.baseline``; see the module docstring for every outcome."""
    with _gc_paused():
        return _run_attestation(job, progress)


def _run_attestation(job: Attestation, progress: Progress | None) -> Result:
    run = _Run(job, progress or NullProgress())
    if job.max_seconds is None:
        run()
    else:
        worker = threading.Thread(target=run, name="attestation", daemon=True)
        started = time.monotonic()
        worker.start()
        run.done.wait(job.max_seconds)
        if not run.done.is_set():
            elapsed = time.monotonic() - started
            return Result(
                Verdict.ERROR,
                run.identity(),
                _ref(run.trusted),
                message=f"did not finish within --max-seconds {job.max_seconds:g} (stopped after {elapsed:.1f} s)",
            )
    if run.config_error is not None:
        raise run.config_error
    if run.result is None:  # pragma: no cover - _Run always sets one or the other
        raise RuntimeError("attestation ended without a result")
    return run.result


def device_identity(target: str, options: TargetOptions | None = None) -> DeviceIdentity:
    """The identity a result for ``target`` names when nothing was read (no baseline, no device).

    For a caller that must make a result without running an attestation (the
    dock, for a part that could not be run): the same id the collector would
    record (:meth:`Collector.fallback_identity`); a target no collector accepts
    keeps its text.
    """
    try:
        collector = open_collector(target, options)
    except ConfigError:
        return DeviceIdentity(kind="unknown", id=target, target=target)
    return collector.fallback_identity(target, {})
