"""Fixtures of the io tests, defined in io_cases.py."""

from io_cases import plan00, tiny, tiny_plan, vector_scenario  # noqa: F401
