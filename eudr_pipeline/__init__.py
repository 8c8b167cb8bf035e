"""EUDR due-diligence pipeline: per-plot forest, loss, degradation, overlaps and risk."""

__version__ = "0.1.0"
