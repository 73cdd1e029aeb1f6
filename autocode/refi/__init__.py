"""REFI-QDA exchange (NVivo, ATLAS.ti, MAXQDA, QualCoder) and Taguette import.

Everything here works on the in-memory model of ``autocode.refi.model``; mapping
it into autocode's store is done elsewhere. Positions are always Unicode code
points into LF-only text, end exclusive.
"""

from autocode.refi.model import (
    QdaCode,
    QdaCoding,
    QdaProject,
    QdaSelection,
    QdaSet,
    QdaSource,
    QdaUser,
)
from autocode.refi.positions import CONVENTIONS
from autocode.refi.qdc import read_qdc, write_qdc
from autocode.refi.qdpx_read import read_qdpx
from autocode.refi.qdpx_write import write_qdpx
from autocode.refi.taguette import project_from_tables, read_taguette_csv

__all__ = [
    "CONVENTIONS",
    "QdaCode",
    "QdaCoding",
    "QdaProject",
    "QdaSelection",
    "QdaSet",
    "QdaSource",
    "QdaUser",
    "read_qdc",
    "read_qdpx",
    "read_taguette_csv",
    "project_from_tables",
    "write_qdc",
    "write_qdpx",
]
