"""Fixtures of the unit tier that start something: the object-storage emulators (LocalStack's S3
and Azurite on loopback, once per session)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers.emulators import Emulator, start_azurite, start_s3


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emulator = start_s3(tmp_path_factory.mktemp("s3"))
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emulator = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield emulator
    finally:
        emulator.stop()
