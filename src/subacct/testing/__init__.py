"""Testing helpers for hosts: hypothesis strategies and the adapter conformance kit.

Importing these needs the ``test`` extra (pytest and hypothesis).
"""
