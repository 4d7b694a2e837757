"""Hierarchy-aware classification: hierarchies, frames, training, evaluation, reporting."""

__version__ = "0.1.0"
