"""Builders that turn scenario data into solver problems (plain data for ``solvers``).

Kept light: import the builder modules themselves, e.g. ``from dientine.problems.rru_sleep import
build_rru_sleep_problem``; nothing is imported here.
"""
