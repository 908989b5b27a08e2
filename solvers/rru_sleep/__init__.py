"""``solvers.rru_sleep``: which cells (or RRUs) sleep in each hour -- the facility-location MILP of
REFERENCES.md 6.1 with sleep levels, switching costs, minimum dwell times, coverage and capacity.

    >>> from solvers.rru_sleep import RruSleepProblem, solve_rru_sleep
    >>> sol = solve_rru_sleep(problem, time_limit_s=60)      # or solvers.solve(problem)

See ``solvers.rru_sleep.problem`` for the formulation and ``solvers.rru_sleep.solver`` for the method.
"""

from solvers.base import register
from solvers.rru_sleep.problem import CONSTRAINT_FAMILIES as RRU_SLEEP_CONSTRAINT_FAMILIES
from solvers.rru_sleep.problem import RruSleepProblem, RruSleepSolution
from solvers.rru_sleep.solver import BACKENDS as RRU_SLEEP_BACKENDS
from solvers.rru_sleep.solver import solve_rru_sleep

__all__ = ["RruSleepProblem", "RruSleepSolution", "solve_rru_sleep", "RRU_SLEEP_CONSTRAINT_FAMILIES",
           "RRU_SLEEP_BACKENDS"]

register("rru_sleep", RruSleepProblem, RruSleepSolution, solve_rru_sleep)
