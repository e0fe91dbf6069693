"""Spec loading: YAML with line numbers → typed family → expanded graph."""
