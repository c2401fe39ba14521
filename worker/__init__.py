"""Podium compute worker: claims jobs, runs programs in containers, reports results."""
