"""An example production configuration: PostgreSQL, RabbitMQ, workers on their own hosts.

Add the last block to your own ``jupyterhub_config.py``; the rest shows the knobs a site sets.
The Podium service runs on the hub host (managed by the hub); compute workers run elsewhere with

    pip install 'jupyter-podium[worker]' && podium images build
    podium worker --service-url https://hub.example.org/services/podium/ --token <queue token>

(S3 and Azure Blob storage backends are planned; until then ``PODIUM_STORAGE_ROOT`` must be a
directory the service can write, and signed URLs are served by the service itself.)

For Zero to JupyterHub on Kubernetes, see ``z2jh-values.yaml`` beside this file.
"""

import os

from podium.hub.service import configure

c = get_config()  # noqa: F821

# ... your authenticator, spawner and hub settings ...

configure(
    c,
    url="http://127.0.0.1:10101",
    public_url="https://hub.example.org",
    creator_group="instructors",
    environment={
        "PODIUM_DB_URL": os.environ["PODIUM_DB_URL"],  # postgresql+psycopg2://podium:...@db/podium
        "PODIUM_BROKER_URL": os.environ["PODIUM_BROKER_URL"],  # amqp://podium:...@rabbitmq:5672/podium
        "PODIUM_PUBLIC_URL": "https://hub.example.org/services/podium/",
        "PODIUM_SECRET_KEY": os.environ["PODIUM_SECRET_KEY"],  # the same on every replica
        "PODIUM_QUEUE_TOKEN": os.environ["PODIUM_QUEUE_TOKEN"],  # the default queue's worker token
        "PODIUM_STORAGE_ROOT": "/srv/podium/storage",
    },
)
