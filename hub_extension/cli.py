"""The ``podium`` command: one entry point with a subcommand per job.

    podium service [--port N] [--db-url URL] [--upgrade-db] ...   run the service
    podium db upgrade [--db-url URL]                               create or migrate the schema
    podium db current [--db-url URL]                               show the schema revision
    podium worker --service-url URL --token TOKEN                 a compute worker for one queue
    podium images build|list                                       local runtime images (no registry)
    podium demo                                                    the embedded-default demo
"""

from __future__ import annotations

import argparse
import sys


def _service_app(argv: list[str]):
    from podium.server.app import PodiumService

    app = PodiumService()
    app.parse_command_line(argv)
    if app.config_file:
        import os

        if os.path.exists(app.config_file):
            app.load_config_file(app.config_file)
            app.parse_command_line(argv)
    return app


def cmd_service(argv: list[str]) -> int:
    from podium.server.app import PodiumService

    PodiumService.launch_instance(argv)
    return 0


def cmd_db(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="podium db", description="Manage Podium's database schema.")
    parser.add_argument("action", choices=["upgrade", "current"])
    args, rest = parser.parse_known_args(argv)
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


def cmd_demo(argv: list[str]) -> int:
    from podium.hub.demo import main as demo_main

    return demo_main(argv)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


COMMANDS = {
    "service": (cmd_service, "Run the Podium service (REST API and signed storage URLs)."),
    "db": (cmd_db, "Create or migrate the database schema: `podium db upgrade`."),
    "worker": (cmd_worker, "Run a compute worker for one queue (service URL and queue token)."),
    "images": (cmd_images, "Build or list the local runtime images (no registry needed)."),
    "demo": (cmd_demo, "Start the platform on its embedded defaults with a demo competition."),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("usage: podium <command> [options]\n\ncommands:")
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:<10} {text}")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"podium: unknown command '{name}'. Try `podium --help`.", file=sys.stderr)
        return 2
    return COMMANDS[name][0](rest) or 0


if __name__ == "__main__":
    sys.exit(main())
