"""labmatch: privacy-preserving cross-lab suspect matching.

Subpackages: ``labmatch.psi`` (the pure cryptographic core),
``labmatch.client`` (the lab side), ``labmatch.server`` (the coordinator).
"""
from __future__ import annotations

__version__ = "0.1.0"
