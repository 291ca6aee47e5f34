"""Specs: a spec file (YAML) read once into frozen, validated specs."""
