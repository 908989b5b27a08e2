"""pytest plugin: every ``*.yaml`` under a directory named ``regression`` is a scenario regression test item.

Registered through the ``pytest11`` entry point, so ``pytest scenarios/regression`` runs the files; a failure lists
every violated bound with its value.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix == ".yaml" and "regression" in file_path.parts:
        return RegressionFile.from_parent(parent, path=file_path)
    return None


class RegressionFile(pytest.File):
    def collect(self):
        yield RegressionItem.from_parent(self, name=self.path.stem)


class RegressionFailure(Exception):
    pass


class RegressionItem(pytest.Item):
    def runtest(self) -> None:
        from dientine.regression import run_regression

        result = run_regression(self.path)
        if not result.passed:
            raise RegressionFailure(result.report())

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, RegressionFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, 0, f"scenario regression: {self.name}"
