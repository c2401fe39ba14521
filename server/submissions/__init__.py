"""Submissions on the service side: their life (``lifecycle``) and the fact sheets they answer (``fact_sheets``)."""
