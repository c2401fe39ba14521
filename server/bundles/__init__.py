"""CodaLab (v1, v1.5, v1.8) and Codabench (v2) competition bundles: import and export."""
