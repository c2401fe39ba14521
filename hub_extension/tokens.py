"""``podium token``: an API token for scripts against a running installation, outside the hub.

The hub makes the token (``POST /hub/api/users/{name}/tokens``), scoped to the Podium service
only. Whoever ran ``podium up`` gets one for any user with the admin token it keeps in its data
dir; anyone else proves who they are with their hub password, which the hub checks with its
authenticator (the ``auth`` field of the same request).

    podium token demo-organizer                      # prints the token
    eval "$(podium token demo-organizer --env)"     # PODIUM_URL and PODIUM_TOKEN for the client
    podium token alice --hub-url https://hub.example.org --password-stdin < password.txt
"""

from __future__ import annotations

import argparse
import getpass
import shlex
import sys
from typing import Any

import requests

from . import installation
from .service import SERVICE_NAME, access_scope


class TokenError(RuntimeError):
    """No token could be made; the message says why and what to do."""


def request_token(
    hub_url: str,
    user: str,
    *,
    admin_token: str | None = None,
    password: str | None = None,
    note: str = "podium token",
    expires_in: int | None = None,
    service: str = SERVICE_NAME,
) -> str:
    """A new token of ``user`` that may call the Podium service, made by the hub at ``hub_url``
    for an admin (``admin_token``) or for the user themselves (``password``)."""
    url = f"{hub_url.rstrip('/')}/hub/api/users/{user}/tokens"
    body: dict[str, Any] = {"note": note, "scopes": [access_scope(service)]}
    if expires_in:
        body["expires_in"] = expires_in
    headers = {}
    if admin_token:
        headers["Authorization"] = f"token {admin_token}"
    elif password is not None:
        body["auth"] = {"username": user, "password": password}
    else:
        raise TokenError("a token needs the admin token `podium up` keeps, or the user's password")
    try:
        response = requests.post(url, json=body, headers=headers, timeout=30)
    except requests.ConnectionError as e:
        raise TokenError(f"no hub answers at {hub_url} (is `podium up` running?): {e}") from e
    if response.status_code == 403 and not admin_token:
        raise TokenError(f"the hub at {hub_url} refused the user name or password of '{user}'")
    if response.status_code == 404 or (response.status_code == 403 and admin_token):
        raise TokenError(f"the hub at {hub_url} has no user '{user}' (or the admin token is out of date: "
                         "restart `podium up`)")
    if response.status_code != 201:
        raise TokenError(f"the hub at {hub_url} answered {response.status_code}: {response.text[:300]}")
    return response.json()["token"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``podium token`` (also read by the docs' command reference)."""
    parser = argparse.ArgumentParser(
        prog="podium token", description="Print a new API token of a hub user, for scripts against Podium.",
        epilog=__doc__.split("\n\n")[2])
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("user", help="The hub user the token belongs to (an organizer, a participant, ...).")
    parser.add_argument("--data-dir", help="The data dir of `podium up` (default: the one it used last).")
    parser.add_argument("--hub-url", help="The hub's public URL, for an installation `podium up` did not make "
                        "here; then the user's password is asked.")
    parser.add_argument("--password-stdin", action="store_true", help="Read the password from standard input.")
    parser.add_argument("--expires-in", type=int, metavar="SECONDS", help="Lifetime (default: the hub's).")
    parser.add_argument("--note", default="podium token", help="Shown on the hub's token page.")
    parser.add_argument("--env", action="store_true",
                        help="Print `export PODIUM_URL=... PODIUM_TOKEN=...` lines for a shell.")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    found = None if args.hub_url else installation.find(args.data_dir)
    if found is None and not args.hub_url:
        where = args.data_dir or f"{installation.default_data_dir()} or {installation.pointer_file()}"
        print(f"podium token: no installation of `podium up` found in {where}: start one with "
              "`podium up`, or name its hub with --hub-url.", file=sys.stderr)
        return 1
    hub_url = args.hub_url or found.hub_url
    service_url = found.service_url if found else f"{hub_url.rstrip('/')}/services/{SERVICE_NAME}/"
    admin_token = found.admin_token() if found else None
    password = None
    if admin_token is None:
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else \
            getpass.getpass(f"Hub password of {args.user}: ")
    try:
        token = request_token(hub_url, args.user, admin_token=admin_token, password=password,
                              note=args.note, expires_in=args.expires_in)
    except TokenError as e:
        print(f"podium token: {e}", file=sys.stderr)
        return 1
    if args.env:
        print(f"export PODIUM_URL={shlex.quote(service_url)}")
        print(f"export PODIUM_TOKEN={shlex.quote(token)}")
    else:
        print(token)
        print(f"A token of {args.user} for the Podium API at {service_url}api/v1/ "
              f"(send it as 'Authorization: token ...', or set PODIUM_URL and PODIUM_TOKEN for "
              "podium.widgets).", file=sys.stderr)
    return 0
