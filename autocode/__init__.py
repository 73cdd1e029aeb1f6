"""autocode: model-assisted qualitative coding of transcripts, run locally."""

__version__ = "0.1.0"
