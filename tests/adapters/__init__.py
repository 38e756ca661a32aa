"""Adapter tests: conformance on every adapter, faults, migrations."""
