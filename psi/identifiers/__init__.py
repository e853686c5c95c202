"""Canonicalisation of identifiers, one module per input kind."""
