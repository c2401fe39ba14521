"""JupyterHub on Podium's embedded defaults: one machine, no setup.

    jupyterhub -f jupyter_config/jupyterhub_config.py

starts the hub with its proxy and the Podium service (SQLite and local storage in
./podium-data, a server-free broker). Log in with any user name and the password below; the
members of the hub group ``podium-creators`` may create competitions (add yourself from the hub's
admin page). Start a compute worker beside it with the command `podium up` prints, or:

    podium worker --service-url http://127.0.0.1:8000/services/podium/ \\
        --token $(cat podium-data/default_queue_token)

`podium up` does all of this for you and creates demo users and a competition.
"""

import os
import sys

from podium.hub.service import configure

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = 8000
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = os.environ.get("PODIUM_DEMO_PASSWORD", "podium")
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {"admin"}
c.Spawner.args = ["--allow-root"] if os.geteuid() == 0 else []

data_dir = os.path.abspath(os.environ.get("PODIUM_DATA_DIR", "podium-data"))
# hub accounts, not system accounts: JupyterLab from this environment, a home under data_dir
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = os.path.join(data_dir, "homes", "{username}")
c.Spawner.cmd = [os.path.join(os.path.dirname(sys.executable), "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
configure(
    c,
    url="http://127.0.0.1:10101",
    public_url="http://127.0.0.1:8000",
    extra_args=["--upgrade-db"],
    environment={"PODIUM_DATA_DIR": data_dir, "PODIUM_PUBLIC_URL": "http://127.0.0.1:8000/services/podium/"},
)
