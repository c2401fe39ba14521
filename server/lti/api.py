"""The LTI verbs of the JSON API (mounted with the other API modules)."""

from .handlers import PhaseGradesHandler

default_handlers = [("/phases/{phase}/lti-grades", PhaseGradesHandler)]
