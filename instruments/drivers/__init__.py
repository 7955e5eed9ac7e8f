"""Vendor drivers, one class per instrument model behind a role interface.

Drivers are looked up through flexbench.instruments.registry, never by file name.
"""
