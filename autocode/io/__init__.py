"""Files in, no store: transcripts, coded corpora (CSV/JSONL), segmentation, codebook files."""
