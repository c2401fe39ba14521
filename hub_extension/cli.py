"""The ``podium`` command: one entry point with a subcommand per job.

    podium service [--port N] [--db-url URL] [--upgrade-db] ...   run the service
    podium db upgrade [--db-url URL]                               create or migrate the schema
    podium db current [--db-url URL]                               show the schema revision
    podium worker --service-url URL --token TOKEN                 a compute worker for one queue
    podium bundle import PATH --owner USER | export SLUG          competition bundles
    podium token USER [--env]                                      an API token for scripts
    podium images build|list|engine                                local runtime images (no registry), the Docker engine
    podium up                                                      the one-command platform (alias: demo)

Participants' commands (``podium.hub.participant_cli``; exit codes there):

    podium login [--url URL]                                       store the service and a token (outside the hub)
    podium competitions [--mine] | show SLUG | register SLUG       find and join a competition
    podium download SLUG [--phase P]                               public data and starting kit
    podium submit SLUG FILE|DIR [--phase P] [--wait]               submit, and follow it to its score
    podium status [SUBMISSION] | logs SUBMISSION [--follow]        queue place, ETA, live log
    podium leaderboard SLUG [--phase P] [--csv] | select SUBMISSION
"""

from __future__ import annotations

import argparse
import sys


def _service_app(argv: list[str]):
    """The service's configuration as ``podium service`` would read it; with no database named
    (option, config file or environment), the installation ``podium up`` made."""
    import os

    from podium.server.app import PodiumService

    app = PodiumService()
    app.parse_command_line(argv)
    if app.config_file:
        if os.path.exists(app.config_file):
            app.load_config_file(app.config_file)
            app.parse_command_line(argv)
    named = {"data_dir", "db_url"} & set(app.config.PodiumService)
    if not named and not {"PODIUM_DATA_DIR", "PODIUM_DB_URL"} & set(os.environ):
        from .installation import find

        found = find()
        if found is not None:
            app.data_dir = str(found.podium_data_dir)
            print(f"(the installation `podium up` made in {found.data_dir})", file=sys.stderr)
    return app


def _init_db(app, argv: list[str], command: str) -> bool:
    """Open the database; False (after one sentence on stderr) when its schema is out of date."""
    import shlex

    from podium.server.db import SchemaOutOfDate

    try:
        app.init_db()
    except SchemaOutOfDate as e:
        upgrade = shlex.join(["podium", "db", "upgrade", *argv])
        print(f"{command}: The database at {e.database} is at schema revision {e.current or 'none (empty)'}, "
              f"this Podium needs {e.head}: run `{upgrade}`.", file=sys.stderr)
        return False
    return True


def cmd_service(argv: list[str]) -> int:
    from podium.server.app import PodiumService

    PodiumService.launch_instance(argv)
    return 0


SERVICE_OPTIONS = ("Other options (--db-url, --config, --PodiumService.<option>=...) configure the service "
                   "as for `podium service`.")


def build_db_parser() -> argparse.ArgumentParser:
    """``podium db``; other options (``--db-url``, ``--config``) go to the service's configuration."""
    parser = argparse.ArgumentParser(prog="podium db", description="Manage Podium's database schema.",
                                     epilog=SERVICE_OPTIONS)
    parser.add_argument("action", choices=["upgrade", "current"])
    return parser


def cmd_db(argv: list[str]) -> int:
    args, rest = build_db_parser().parse_known_args(argv)
    from podium.server import db

    app = _service_app(rest)
    if args.action == "upgrade":
        if app.db_url.startswith("sqlite"):
            import os

            os.makedirs(app.data_dir, exist_ok=True)
        db.upgrade(app.db_url)
        print(f"Schema of {_redact(app.db_url)} is at revision {db.head_revision()}.")
    else:
        revision = db.current_revision(db.make_engine(app.db_url))
        print(revision or "empty (run `podium db upgrade`)")
    return 0


def cmd_images(argv: list[str]) -> int:
    from podium.worker.images import main as images_main

    return images_main(argv)


def cmd_worker(argv: list[str]) -> int:
    from podium.worker.app import main as worker_main

    return worker_main(argv)


def build_bundle_parser() -> argparse.ArgumentParser:
    """``podium bundle``; other options (``--db-url``, ``--config``) go to the service's configuration."""
    parser = argparse.ArgumentParser(prog="podium bundle", description="Import or export competition bundles.",
                                     epilog=SERVICE_OPTIONS)
    sub = parser.add_subparsers(dest="action", required=True)
    imp = sub.add_parser("import", help="Import a CodaLab (v1, v1.5, v1.8) or Codabench (v2) bundle.")
    imp.add_argument("path", help="A bundle zip or folder with competition.yaml.")
    imp.add_argument("--owner", required=True, help="Hub user name of the competition's first organizer.")
    imp.add_argument("--slug", help="Slug of the new competition (default: from its title).")
    imp.add_argument("--publish", action="store_true", help="Publish it right away.")
    exp = sub.add_parser("export", help="Export a competition as a Codabench v2 bundle.")
    exp.add_argument("competition", help="Slug or id.")
    exp.add_argument("-o", "--output", help="Zip to write (default: <slug>.zip).")
    return parser


def cmd_bundle(argv: list[str]) -> int:
    args, rest = build_bundle_parser().parse_known_args(argv)
    from podium.server.auth.identity import Identity
    from podium.server.bundles.exporter import export_bundle
    from podium.server.bundles.importer import import_bundle
    from podium.server.competitions import authoring as domain
    from podium.server.errors import BundleError, PodiumError
    from podium.server.orm import Competition
    from sqlalchemy import select

    app = _service_app(rest)
    if not _init_db(app, rest, "podium bundle"):
        return 1
    app.init_storage()
    with app.session_factory() as session:
        if args.action == "import":
            try:
                competition = import_bundle(session, app.storage, Identity(args.owner, admin=True),
                                            args.path, app.default_quotas, args.slug)
                if args.publish:
                    domain.publish(competition, True)
                session.commit()
            except BundleError as e:
                print("podium bundle: the bundle cannot be imported:", file=sys.stderr)
                for problem in e.problems:
                    print(f"  - {problem}", file=sys.stderr)
                return 1
            except PodiumError as e:
                print(f"podium bundle: {e.message}", file=sys.stderr)
                return 1
            print(f"Imported '{competition.title}' as {competition.slug} (id {competition.id}, "
                  f"{'published' if competition.published else 'not published yet'}).")
        else:
            column = Competition.id if args.competition.isdigit() else Competition.slug
            value = int(args.competition) if args.competition.isdigit() else args.competition
            competition = session.scalar(select(Competition).where(column == value))
            if competition is None:
                print(f"podium bundle: no competition {args.competition!r}", file=sys.stderr)
                return 1
            output = args.output or f"{competition.slug}.zip"
            with open(output, "wb") as f:
                f.write(export_bundle(session, app.storage, competition))
            print(f"Exported {competition.slug} to {output}.")
    return 0


def cmd_token(argv: list[str]) -> int:
    from .tokens import main as token_main

    return token_main(argv)


def cmd_up(argv: list[str]) -> int:
    from podium.hub.demo import main as demo_main

    return demo_main(argv)


def _participant(name: str):
    """The entry of participant command ``name``: runs it from ``participant_cli``."""

    def run(argv: list[str]) -> int:
        from . import participant_cli

        return participant_cli.run(name, argv)

    return run


def build_storage_parser() -> argparse.ArgumentParser:
    """``podium storage``; other options (``--S3Config.bucket=...``, ``--config``) configure the target."""
    parser = argparse.ArgumentParser(
        prog="podium storage", description="Move an installation's files to object storage.",
        epilog="The target is configured as for `podium service` (--S3Config.<option>=..., "
               "--AzureConfig.<option>=..., PODIUM_S3_* / PODIUM_AZURE_*, or --config).")
    sub = parser.add_subparsers(dest="action", required=True)
    move = sub.add_parser("migrate", help="Copy every object of the local storage to S3 or Azure, verified and "
                                          "resumable; switches nothing.")
    move.add_argument("--to", required=True, choices=["s3", "azure"], help="The backend to copy to.")
    return parser


def cmd_storage(argv: list[str]) -> int:
    args, rest = build_storage_parser().parse_known_args(argv)
    from podium.server.errors import StorageError
    from podium.server.storage import LocalStorage, UrlSigner
    from podium.server.storage.factory import STORAGE_ALIASES
    from podium.server.storage.migrate import migrate

    app = _service_app(rest)
    source = LocalStorage(app.storage_root, app.public_url, UrlSigner(b"unused: no links are signed here"))
    try:
        target = STORAGE_ALIASES[args.to]().from_config(app)
        target.check()
        report = migrate(source, target, progress=lambda key: print(f"copied {key}", file=sys.stderr))
    except StorageError as e:
        print(f"podium storage migrate: {e.message}", file=sys.stderr)
        return 1
    print(f"{report.copied} objects copied ({report.bytes_sent} bytes), {report.already_there} already there: "
          f"every object of {source.root} is in {args.to}. Now set PodiumService.storage_class = '{args.to}' "
          "(with the same settings) and restart the service.")
    return 0


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


COMMANDS = {
    "service": (cmd_service, "Run the Podium service (REST API and signed storage URLs)."),
    "db": (cmd_db, "Create or migrate the database schema: `podium db upgrade`."),
    "worker": (cmd_worker, "Run a compute worker for one queue (service URL and queue token)."),
    "bundle": (cmd_bundle, "Import a CodaLab / Codabench bundle, or export a competition."),
    "storage": (cmd_storage, "Copy the local storage's files to S3 or Azure: `podium storage migrate --to s3`."),
    "images": (cmd_images, "Build or list the local runtime images; `podium images engine` starts Docker."),
    "token": (cmd_token, "Print an API token of a hub user, for scripts against a running installation."),
    "up": (cmd_up, "Start hub, proxy, service and a worker on the embedded defaults, with a demo."),
    "demo": (cmd_up, "The same as `podium up`."),
    **{name: (_participant(name), text) for name, text in (
        ("login", "Store your Podium URL and token for the commands below (not needed in a hub terminal)."),
        ("competitions", "List the competitions you may see (--mine: those you are in)."),
        ("show", "A competition's phases, dates, your registration and quota."),
        ("register", "Register for a competition."),
        ("download", "Download a phase's public data and starting kit, unpacked."),
        ("submit", "Submit a file or folder; --wait follows it to its score (exit 4 if it fails)."),
        ("check", "Score a file with the phase's public scoring kit here, in its image, before submitting."),
        ("status", "A submission's status, queue place and estimated start; or your latest submissions."),
        ("logs", "Your code's log in a submission; --follow shows it live while it runs."),
        ("leaderboard", "A phase's leaderboard as a table (--csv: all of it)."),
        ("select", "Choose a finished submission for the leaderboard."),
    )},
}


def parser_for(name: str) -> argparse.ArgumentParser | None:
    """The argparse parser of a subcommand, for the docs; None for ``service``, whose options are
    the service's traitlets configuration."""
    if name == "db":
        return build_db_parser()
    if name == "bundle":
        return build_bundle_parser()
    if name == "storage":
        return build_storage_parser()
    if name == "worker":
        from podium.worker.app import build_parser
    elif name == "images":
        from podium.worker.images import build_parser
    elif name in ("up", "demo"):
        from podium.hub.demo import build_parser
    elif name == "token":
        from podium.hub.tokens import build_parser
    else:
        from podium.hub.participant_cli import COMMANDS as PARTICIPANT_COMMANDS

        if name not in PARTICIPANT_COMMANDS:
            return None
        build_parser = PARTICIPANT_COMMANDS[name][1]
    return build_parser()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("usage: podium <command> [options]\n\ncommands:")
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:<13} {text}")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"podium: unknown command '{name}'. Try `podium --help`.", file=sys.stderr)
        return 2
    return COMMANDS[name][0](rest) or 0


if __name__ == "__main__":
    sys.exit(main())
