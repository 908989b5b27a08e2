"""DMN XML import (DMN 1.1-1.5) and export (DMN 1.3 with DMNDI)."""

from decisions.dmn.reader import DMN_NAMESPACES, read_dmn
from decisions.dmn.writer import write_dmn

__all__ = ["DMN_NAMESPACES", "read_dmn", "write_dmn"]
