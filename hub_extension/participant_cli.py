"""The participant's ``podium`` commands: log in, find a competition, get its data, submit, follow.

They call the service through ``podium.widgets.client.PodiumClient``, the widgets' client, so a
script, a notebook and a terminal see the same answers and the same error sentences. Output is a
plain table (or ``--json`` for scripts); the exit code says what happened:

    0  ok                          5  not found (competition, phase, submission)
    1  any other error             6  not logged in, or the token is refused
    2  wrong command line          7  refused (not registered, phase closed, not allowed, bad request)
    3  quota exceeded              8  --wait / --follow gave up before the submission ended
    4  the submission failed (or was cancelled)

Where the service and token come from, first found wins: ``PODIUM_URL`` with ``PODIUM_TOKEN``; the
login ``podium login`` stored; in a hub terminal, ``JUPYTERHUB_API_TOKEN`` with ``PODIUM_URL``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from podium.widgets import display, packaging
from podium.widgets.client import (
    TERMINAL_STATUSES,
    ConfigurationError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    PodiumAPIError,
    PodiumClient,
    QuotaExceeded,
    SubmissionRefused,
    ValidationFailed,
    WaitTimeout,
    current_phase,
)

from . import credentials

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_QUOTA, EXIT_FAILED = 0, 1, 2, 3, 4
EXIT_NOT_FOUND, EXIT_AUTH, EXIT_REFUSED, EXIT_TIMEOUT = 5, 6, 7, 8

EXIT_CODES = {
    EXIT_OK: "ok",
    EXIT_ERROR: "any other error",
    EXIT_USAGE: "wrong command line",
    EXIT_QUOTA: "quota exceeded",
    EXIT_FAILED: "the submission failed (or was cancelled)",
    EXIT_NOT_FOUND: "not found (competition, phase, submission)",
    EXIT_AUTH: "not logged in, or the token is refused",
    EXIT_REFUSED: "refused (not registered, phase closed, not allowed, bad request)",
    EXIT_TIMEOUT: "--wait / --follow gave up before the submission ended",
}


class CommandFailed(Exception):
    """A participant command stops with ``exit_code`` after saying ``message`` on stderr."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def exit_code_of(exc: PodiumAPIError) -> int:
    """The exit code of an error the service (or the client) reported."""
    for cls, code in ((QuotaExceeded, EXIT_QUOTA), (NotFound, EXIT_NOT_FOUND), (WaitTimeout, EXIT_TIMEOUT),
                      (ConfigurationError, EXIT_AUTH), (NotAuthenticated, EXIT_AUTH),
                      (PermissionDenied, EXIT_REFUSED), (SubmissionRefused, EXIT_REFUSED),
                      (ValidationFailed, EXIT_REFUSED)):
        if isinstance(exc, cls):
            return code
    return EXIT_ERROR


def make_client() -> PodiumClient:
    """The client of the first configuration found (see the module's docstring)."""
    if os.environ.get("PODIUM_TOKEN"):
        return PodiumClient()
    stored = credentials.load()
    if stored is not None:
        return PodiumClient(stored.url, stored.token)
    try:
        return PodiumClient()
    except ConfigurationError as exc:
        raise ConfigurationError("Not logged in: run `podium login --url URL` (outside the hub; in a hub "
                                 "terminal JUPYTERHUB_API_TOKEN and PODIUM_URL are set for you).") from exc


# -- output -----------------------------------------------------------------------------------
def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table, columns as wide as their widest cell."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def short_time(value: str | None) -> str:
    return (value or "")[:19].replace("T", " ")


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """``data`` as JSON with ``--json``, else ``text``."""
    print(json.dumps(data, indent=2) if args.json else text)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def progress_bar(stream=sys.stderr, width: int = 30) -> Callable[[int, int], None]:
    """An upload progress callback drawing ``[#####.....]  42%  1.2 of 2.9 MB`` on ``stream``."""

    def draw(sent: int, total: int) -> None:
        fraction = sent / total if total else 1.0
        filled = int(width * fraction)
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%}  "
                     f"{sent / 1e6:.1f} of {total / 1e6:.1f} MB")
        if sent >= total:
            stream.write("\n")
        stream.flush()

    return draw


# -- lookups ----------------------------------------------------------------------------------
def find_phase(competition: dict[str, Any], ref: str | None) -> dict[str, Any]:
    """The phase named (by id, index or name) or else the current one."""
    phases = competition.get("phases") or []
    if ref is None:
        phase = current_phase(phases)
        if not phase:
            raise CommandFailed(f"{competition['slug']} has no phase yet.", EXIT_NOT_FOUND)
        return phase
    for phase in phases:
        if ref in (str(phase["id"]), phase["name"]) or ref.lower() == phase["name"].lower():
            return phase
    names = ", ".join(f"{p['name']} ({p['id']})" for p in phases) or "none"
    raise CommandFailed(f"{competition['slug']} has no phase {ref!r}; its phases: {names}.", EXIT_NOT_FOUND)


def fact_sheet_answers(pairs: list[str], questions: dict[str, Any]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as fact-sheet answers, a checkbox question's value as a boolean."""
    answers: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise CommandFailed(f"--answer {pair!r}: write KEY=VALUE.", EXIT_USAGE)
        if (questions.get(key) or {}).get("type") == "checkbox":
            answers[key] = value.strip().lower() in ("1", "true", "yes", "y", "on")
        else:
            answers[key] = value
    return answers


def submission_lines(sub: dict[str, Any]) -> str:
    """A submission as ``key: value`` lines, the queue and failure where there are any."""
    rows = [("Submission", sub["id"]), ("Status", sub["status"]), ("Phase", sub["phase"]),
            ("Description", sub.get("description") or ""), ("Submitted", short_time(sub.get("submitted_at"))),
            ("Started", short_time(sub.get("started_at"))), ("Finished", short_time(sub.get("finished_at")))]
    if sub.get("queue"):
        rows.append(("Queue", display.queue_sentence(sub["queue"])))
    if sub.get("scores"):
        rows.append(("Scores", display.scores_sentence(sub["scores"])))
    if sub.get("failure_reason"):
        rows.append(("Failure", sub["failure_reason"]))
    return "\n".join(f"{k + ':':<13}{v}" for k, v in rows)


def final_code(sub: dict[str, Any]) -> int:
    return EXIT_FAILED if sub["status"] in ("failed", "cancelled") else EXIT_OK


# -- the commands -----------------------------------------------------------------------------
def cmd_login(args: argparse.Namespace) -> int:
    if args.logout:
        removed = credentials.forget()
        say(f"Removed the login in {credentials.login_file()}." if removed else "There was no stored login.")
        return EXIT_OK
    if not args.url and not args.token and not args.token_stdin and os.environ.get("JUPYTERHUB_API_TOKEN") \
            and os.environ.get("PODIUM_URL"):
        me = PodiumClient().me()
        say(f"In this hub terminal you are {me['name']} already: the commands use JUPYTERHUB_API_TOKEN "
            "and PODIUM_URL, nothing to store.")
        emit(args, {"name": me["name"], "stored": None}, me["name"])
        return EXIT_OK
    url = args.url
    if not url:
        from . import installation

        found = installation.find()
        if found is None:
            raise CommandFailed("Which Podium? Give --url (e.g. https://hub.example.org/services/podium/).",
                                EXIT_USAGE)
        url = found.service_url
    token = args.token
    if args.token_stdin:
        token = sys.stdin.readline().strip()
    elif not token:
        token = getpass.getpass("Token (from `podium token` or the hub's token page): ").strip()
    if not token:
        raise CommandFailed("No token given.", EXIT_USAGE)
    client = PodiumClient(url, token)
    me = client.me()  # a refused token stops here (exit 6), before anything is stored
    path = credentials.save(credentials.Login(client.url, token))
    say(f"Logged in to {client.url} as {me['name']}; the token is kept in {path} (readable by you only).")
    emit(args, {"name": me["name"], "url": client.url, "stored": str(path)}, me["name"])
    return EXIT_OK


def cmd_competitions(args: argparse.Namespace) -> int:
    client = make_client()
    if args.mine:
        mine = client.my_competitions()
        rows = [[c["slug"], c["title"], "organizer" if c["organizer"] else "", c["participant"] or ""] for c in mine]
        emit(args, mine, table(["slug", "title", "organizer", "registration"], rows) if rows
             else "You organize and take part in no competition yet.")
        return EXIT_OK
    listed = client.competitions()
    rows = [[c["slug"], c["title"], c["my_role"]["participant"] or ("organizer" if c["my_role"]["organizer"] else "")]
            for c in listed]
    emit(args, listed, table(["slug", "title", "you"], rows) if rows else "No competition to show.")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    client = make_client()
    comp = client.competition(args.competition)
    quotas = {p["id"]: p["quota"] for c in client.my_competitions() if c["id"] == comp["id"] for p in c["phases"]}
    current = current_phase(comp["phases"])
    rows = [[p["id"], p["name"] + (" *" if p is current else ""), p["status"], short_time(p.get("start")),
             short_time(p.get("end")), display.quota_sentence(quotas.get(p["id"])) if quotas else ""]
            for p in comp["phases"]]
    text = "\n".join([
        f"{comp['title']} ({comp['slug']})",
        comp.get("description") or "",
        f"Registration: {comp['my_role']['participant'] or 'not registered'}"
        + (" (you organize it)" if comp["my_role"]["organizer"] else ""),
        "",
        table(["id", "phase", "status", "start", "end", "your quota"], rows),
    ])
    comp["my_quota"] = {str(k): v for k, v in quotas.items()}
    emit(args, comp, text)
    return EXIT_OK


def cmd_register(args: argparse.Namespace) -> int:
    answer = make_client().register(args.competition)
    status = answer.get("status")
    sentence = {"approved": "You are registered: you may submit.",
                "pending": "Your registration waits for an organizer's approval.",
                "denied": "Your registration was denied by the organizers."}.get(status, f"Registration: {status}")
    emit(args, answer, sentence)
    return EXIT_OK


def cmd_download(args: argparse.Namespace) -> int:
    client = make_client()
    comp = client.competition(args.competition)
    phase = find_phase(comp, args.phase)
    folder = Path(args.dir or comp["slug"]).expanduser()
    kinds = [args.kind] if args.kind else ["public_data", "starting_kit"]
    saved: dict[str, str] = {}
    for kind in kinds:
        if not phase.get(kind):
            continue
        target = packaging.unpack(client.download_dataset(phase[kind], folder / f"{kind}.zip"), folder / kind)
        saved[kind] = str(target)
    if not saved:
        raise CommandFailed(f"Phase '{phase['name']}' offers no {' or '.join(k.replace('_', ' ') for k in kinds)}.",
                            EXIT_NOT_FOUND)
    emit(args, saved, "\n".join(f"Saved the {k.replace('_', ' ')} in {v}" for k, v in saved.items()))
    return EXIT_OK


def follow(client: PodiumClient, submission_id: int, timeout: float, quiet: bool = False) -> dict[str, Any]:
    """Wait for a submission's end, saying each change of status (and queue place) on stderr."""

    def update(sub: dict[str, Any]) -> None:
        if not quiet:
            line = display.status_sentence(sub)
            if sub.get("queue"):
                line += f" ({display.queue_sentence(sub['queue'])})"
            say(line)

    return client.wait(submission_id, timeout=timeout, interval=1.0, on_update=update)


def cmd_submit(args: argparse.Namespace) -> int:
    client = make_client()
    comp = client.competition(args.competition)
    phase = find_phase(comp, args.phase)
    data = packaging.zip_path(args.path)
    show_progress = args.progress if args.progress is not None else sys.stderr.isatty()
    created = client.submit(
        phase["id"], data, description=args.description or Path(args.path).name, task=args.task,
        fact_sheet=fact_sheet_answers(args.answer, comp.get("fact_sheet") or {}) or None,
        progress=progress_bar() if show_progress else None,
    )
    left = f" ({display.quota_sentence(created.get('quota'))})" if created.get("quota") else ""
    if not args.wait:
        emit(args, created, f"Submission {created['id']} sent to {comp['slug']}, phase {phase['name']}{left}")
        return EXIT_OK
    say(f"Submission {created['id']} sent to {comp['slug']}, phase {phase['name']}{left}")
    final = follow(client, created["id"], args.timeout, quiet=args.json)
    emit(args, final, submission_lines(final))
    return final_code(final)


def cmd_check(args: argparse.Namespace) -> int:
    """Score a submission with the phase's public scoring kit on this machine (nothing is sent)."""
    from podium.widgets import parity
    from podium.worker.errors import WorkerError

    client = make_client()
    comp = client.competition(args.competition)
    phase = find_phase(comp, args.phase)
    if args.environment:
        image = client.get(f"phases/{phase['id']}/environment")
        say(parity.diff_text(parity.environment_diff(image, args.path)))
    say(f"Checking {args.path} with the public scoring kit of {comp['slug']}, phase {phase['name']} "
        "(on this machine; nothing is sent)")
    try:
        result = parity.check(client, phase["id"], args.path, args.task, keep_output=args.output)
    except WorkerError as exc:
        raise CommandFailed(str(exc)) from None
    answer = {"state": result.state, "scores": result.scores, "reason": result.reason, "output": result.output_zip}
    if result.state == "succeeded":
        text = table(["column", "score"], [[k, v] for k, v in result.scores.items()])
    else:
        text = f"The local check failed: {result.reason}"
    emit(args, answer, text)
    return EXIT_OK if result.state == "succeeded" else EXIT_FAILED


def cmd_status(args: argparse.Namespace) -> int:
    client = make_client()
    if args.submission is not None:
        sub = client.submission(args.submission)
        emit(args, sub, submission_lines(sub))
        return EXIT_OK
    page = client.my_submissions(limit=args.limit)
    phases = {p["id"]: (c["slug"], p["name"]) for c in client.my_competitions() for p in c["phases"]}
    rows = [[s["id"], *phases.get(s["phase"], (s["competition"], s["phase"])), s["status"],
             short_time(s.get("submitted_at") or s.get("created_at")), display.scores_sentence(s.get("scores"))
             if s["status"] == "finished" else (s.get("failure_reason") or "")]
            for s in page["submissions"]]
    emit(args, page, table(["id", "competition", "phase", "status", "submitted", "result"], rows) if rows
         else "You have made no submission yet.")
    return EXIT_OK


def unseen(shown: str, current: str) -> str:
    """The part of ``current`` (a log's tail) that ``shown`` (what was printed) does not end with."""
    if current.startswith(shown):
        return current[len(shown):]
    for overlap in range(min(len(shown), len(current)), 0, -1):
        if shown.endswith(current[:overlap]):
            return current[overlap:]
    return current


def cmd_logs(args: argparse.Namespace) -> int:
    client = make_client()
    answer = client.log(args.submission)
    if not args.follow:
        emit(args, answer, answer["text"])
        return EXIT_OK
    deadline = time.monotonic() + args.timeout
    shown = ""
    while True:
        new = unseen(shown, answer["text"])
        if new:
            sys.stdout.write(new)
            sys.stdout.flush()
            shown = answer["text"]
        if answer["status"] in TERMINAL_STATUSES:
            if shown and not shown.endswith("\n"):
                sys.stdout.write("\n")
            say(display.status_sentence(client.submission(args.submission)))
            return final_code(answer)
        if time.monotonic() >= deadline:
            say(f"Submission {args.submission} is still '{answer['status']}' after {args.timeout:.0f} s.")
            return EXIT_TIMEOUT
        time.sleep(args.interval)
        answer = client.log(args.submission)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    client = make_client()
    comp = client.competition(args.competition)
    phase = find_phase(comp, args.phase)
    if args.csv:
        sys.stdout.write(client.leaderboard_csv(phase["id"]))
        return EXIT_OK
    board = client.leaderboard(phase["id"], limit=args.limit)
    columns = [c for c in board.get("columns", []) if not c.get("hidden")]
    rows = [[e["rank"], e["owner"],
             *[(e.get("display") or {}).get(c["key"], display.format_score(e["scores"].get(c["key"]), c.get("precision")))
               for c in columns], short_time(e.get("submitted_at"))] for e in board.get("entries", [])]
    emit(args, board, table(["#", "participant", *[c["title"] for c in columns], "submitted"], rows) if rows
         else f"The leaderboard of {phase['name']} is empty: no submission has been scored yet.")
    return EXIT_OK


def cmd_select(args: argparse.Namespace) -> int:
    answer = make_client().select(args.submission, not args.unselect)
    emit(args, answer, f"Submission {answer['id']} is {'now' if answer['selected'] else 'no longer'} "
                       "chosen for the leaderboard.")
    return EXIT_OK


# -- parsers ----------------------------------------------------------------------------------
def _parser(name: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"podium {name}", description=description,
        epilog="exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items()))
    parser.add_argument("--json", action="store_true", help="Print the service's answer as JSON, for scripts.")
    return parser


def build_login_parser() -> argparse.ArgumentParser:
    p = _parser("login", "Store the Podium service's URL and your token for the other commands "
                         "(not needed in a hub terminal).")
    p.add_argument("--url", help="The service, e.g. https://hub.example.org/services/podium/ "
                                 "(default: the one `podium up` runs here).")
    p.add_argument("--token", help="A hub token (from `podium token` or the hub's token page); "
                                   "asked for when not given.")
    p.add_argument("--token-stdin", action="store_true", help="Read the token from standard input.")
    p.add_argument("--logout", action="store_true", help="Forget the stored login instead.")
    return p


def build_competitions_parser() -> argparse.ArgumentParser:
    p = _parser("competitions", "List the competitions you may see.")
    p.add_argument("--mine", action="store_true", help="Only those you organize or take part in.")
    return p


def _competition(p: argparse.ArgumentParser, phase: bool = False) -> None:
    p.add_argument("competition", metavar="SLUG", help="The competition's slug (or id).")
    if phase:
        p.add_argument("--phase", help="Phase id or name (default: the current phase).")


def build_show_parser() -> argparse.ArgumentParser:
    p = _parser("show", "A competition: description, phases, dates, your registration and quota.")
    _competition(p)
    return p


def build_register_parser() -> argparse.ArgumentParser:
    p = _parser("register", "Register for a competition.")
    _competition(p)
    return p


def build_download_parser() -> argparse.ArgumentParser:
    p = _parser("download", "Download a phase's public data and starting kit, unpacked.")
    _competition(p, phase=True)
    p.add_argument("--dir", help="Folder to save into (default: ./SLUG).")
    p.add_argument("--kind", choices=["public_data", "starting_kit"], help="Only this one.")
    return p


def build_submit_parser() -> argparse.ArgumentParser:
    p = _parser("submit", "Submit a file or folder (zipped for you; a .zip goes as it is).")
    _competition(p, phase=True)
    p.add_argument("path", metavar="FILE|DIR", help="What to submit.")
    p.add_argument("-d", "--description", help="What is new in it (default: the file's name).")
    p.add_argument("--task", help="The task key, in a phase with several tasks.")
    p.add_argument("--answer", action="append", default=[], metavar="KEY=VALUE",
                   help="A fact-sheet answer (repeat for each question the competition asks).")
    p.add_argument("--wait", action="store_true",
                   help="Follow the submission to its end; exit 4 if it fails.")
    p.add_argument("--timeout", type=float, default=3600, help="Seconds --wait waits (default 3600).")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="Draw an upload progress bar (default: when stderr is a terminal).")
    return p


def build_check_parser() -> argparse.ArgumentParser:
    p = _parser("check", "Score a file or folder on this machine with the phase's public scoring kit, in the "
                         "phase's image and with a worker's limits, before spending quota (nothing is sent).")
    p.add_argument("path", metavar="FILE|DIR", help="What you would submit.")
    p.add_argument("--competition", required=True, metavar="SLUG", help="The competition's slug (or id).")
    p.add_argument("--phase", help="Phase id or name (default: the current phase).")
    p.add_argument("--task", help="The task key, in a phase with several tasks.")
    p.add_argument("--output", metavar="ZIP", help="Save the scoring output (scores, detailed results) here.")
    p.add_argument("--environment", action="store_true",
                   help="Also show how this Python differs from the phase's image for what the file imports.")
    return p


def build_status_parser() -> argparse.ArgumentParser:
    p = _parser("status", "A submission's status, queue place and result; without one, your latest submissions.")
    p.add_argument("submission", type=int, nargs="?", help="The submission's id.")
    p.add_argument("--limit", type=int, default=20, help="How many submissions to list (default 20).")
    return p


def build_logs_parser() -> argparse.ArgumentParser:
    p = _parser("logs", "The log of your code in a submission: live while it runs, the final one after.")
    p.add_argument("submission", type=int, help="The submission's id.")
    p.add_argument("-f", "--follow", action="store_true", help="Keep printing until the submission ends.")
    p.add_argument("--interval", type=float, default=2.0, help="Seconds between two looks (default 2).")
    p.add_argument("--timeout", type=float, default=3600, help="Seconds --follow follows (default 3600).")
    return p


def build_leaderboard_parser() -> argparse.ArgumentParser:
    p = _parser("leaderboard", "A phase's leaderboard.")
    _competition(p, phase=True)
    p.add_argument("--csv", action="store_true", help="The whole leaderboard as CSV.")
    p.add_argument("--limit", type=int, default=100, help="Rows to show (default 100).")
    return p


def build_select_parser() -> argparse.ArgumentParser:
    p = _parser("select", "Choose a finished submission for the leaderboard (phases where you choose).")
    p.add_argument("submission", type=int, help="The submission's id.")
    p.add_argument("--unselect", action="store_true", help="Un-choose it instead.")
    return p


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int], Callable[[], argparse.ArgumentParser]]] = {
    "login": (cmd_login, build_login_parser),
    "competitions": (cmd_competitions, build_competitions_parser),
    "show": (cmd_show, build_show_parser),
    "register": (cmd_register, build_register_parser),
    "download": (cmd_download, build_download_parser),
    "submit": (cmd_submit, build_submit_parser),
    "check": (cmd_check, build_check_parser),
    "status": (cmd_status, build_status_parser),
    "logs": (cmd_logs, build_logs_parser),
    "leaderboard": (cmd_leaderboard, build_leaderboard_parser),
    "select": (cmd_select, build_select_parser),
}
"""Each participant command's function and parser; ``podium.hub.cli.COMMANDS`` lists them."""


def run(name: str, argv: list[str]) -> int:
    """Run participant command ``name``: errors become one sentence on stderr and an exit code."""
    command, build = COMMANDS[name]
    args = build().parse_args(argv)
    try:
        return command(args)
    except CommandFailed as exc:
        say(f"podium {name}: {exc.message}")
        return exc.exit_code
    except PodiumAPIError as exc:
        say(f"podium {name}: {display.error_sentence(exc)}")
        return exit_code_of(exc)
    except (packaging.PackagingError, OSError) as exc:
        say(f"podium {name}: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        say(f"podium {name}: interrupted.")
        return 130
