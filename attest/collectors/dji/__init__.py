"""The DJI collector: every module's self-reported version over DUML.

``collector`` runs the version sweep (:func:`attest.duml.sweep_versions`)
and turns its answers into ``module/<name>-<index>`` components. Loaded by
name when a ``dji://`` target is used (:func:`from_target`).
"""

from attest.collectors.dji.collector import DjiCollector, from_target

__all__ = ["DjiCollector", "from_target"]
