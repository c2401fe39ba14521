"""Executors run one program in isolation: Docker (hardened, the default) or local (unsafe)."""

from .base import CappedLog, ContainerSpec, ExecResult, Executor, Mount

__all__ = ["CappedLog", "ContainerSpec", "ExecResult", "Executor", "Mount"]
