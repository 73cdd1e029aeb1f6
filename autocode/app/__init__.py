"""The Python API: one module per use case, each a few functions over a :class:`Workspace`.

The CLI (:mod:`autocode.cli`) and the web page (:mod:`autocode.web`) are thin layers over
these; a script can call them directly (see :mod:`autocode` for the short list).
"""

from .adaptation import AdaptationResult, adapt
from .agreement import AgreementRun, measure_agreement
from .exports import export, export_codebook
from .imports import ImportReport, import_files
from .models import ClassifierFactory, evaluate, load_model, train, training_data
from .session import AnnotationSession
from .simulation import simulate
from .suggestions import suggest
from .workspace import Workspace

__all__ = [
    "AdaptationResult", "adapt", "AgreementRun", "AnnotationSession", "ClassifierFactory", "ImportReport", "Workspace", "evaluate", "export",
    "export_codebook", "import_files", "load_model", "measure_agreement", "simulate", "suggest", "train", "training_data",
]
