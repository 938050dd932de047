"""Disqueue: a simple distributed queue service."""

__version__ = "0.1.0"
