"""RabbitMQ's management HTTP API as the tests see it: what exists, and removing what a test made."""

from __future__ import annotations

from urllib.parse import quote

import requests

MANAGEMENT_URL = "http://127.0.0.1:15672"
ADMIN = ("guest", "guest")


def get(path: str) -> list | dict:
    response = requests.get(MANAGEMENT_URL + path, auth=ADMIN, timeout=10)
    response.raise_for_status()
    return response.json()


def vhosts(prefix: str) -> set[str]:
    return {row["name"] for row in get("/api/vhosts") if row["name"].startswith(prefix)}


def users(prefix: str) -> set[str]:
    return {row["name"] for row in get("/api/users") if row["name"].startswith(prefix)}


def connections_of(user: str) -> list[str]:
    return [row["name"] for row in get("/api/connections?columns=name,user") if row.get("user") == user]


def remove_accounts(prefix: str) -> None:
    """Delete every virtual host and user whose name starts with ``prefix``."""
    for name in vhosts(prefix):
        requests.delete(f"{MANAGEMENT_URL}/api/vhosts/{quote(name, safe='')}", auth=ADMIN, timeout=10)
    for name in users(prefix):
        requests.delete(f"{MANAGEMENT_URL}/api/users/{quote(name, safe='')}", auth=ADMIN, timeout=10)
