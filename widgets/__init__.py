"""Podium in the notebook: a small client of the REST API and the ipywidgets built on it."""
