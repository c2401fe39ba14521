"""Competitions: authoring them (``authoring``), joining them (``participation``), moving submissions between phases (``phase_migration``)."""
