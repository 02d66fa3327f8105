"""Agents: the plugin contract (``agents.base``), the built-ins, and the loader.

Kept light: app agent modules import ``agents.base``, which imports this package.
"""
