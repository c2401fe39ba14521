"""An example production configuration: PostgreSQL, RabbitMQ, workers on their own hosts.

Add the last block to your own ``jupyterhub_config.py``; the rest shows the knobs a site sets.
The Podium service runs on the hub host (managed by the hub); compute workers run elsewhere with

    pip install 'jupyter-podium[worker]' && podium images build
    podium worker --service-url https://hub.example.org/services/podium/ --token <queue token>

Files live in an S3 bucket here (``PODIUM_STORAGE=s3``): clients and workers get presigned URLs
from the bucket itself. For Azure Blob, use the commented lines instead; for the embedded default,
drop the storage lines and set ``PODIUM_STORAGE_ROOT`` to a directory the service can write.
See the docs' how-to "Keep files in S3 or Azure Blob storage" (settings, CORS).

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
    # one service process per core by default; replicas on other hosts: docs/howto/run-several-processes.md
    extra_args=["--processes=4"],
    environment={
        "PODIUM_DB_URL": os.environ["PODIUM_DB_URL"],  # postgresql://podium:...@db/podium
        "PODIUM_BROKER_URL": os.environ["PODIUM_BROKER_URL"],  # amqp://podium:...@rabbitmq:5672/podium
        "PODIUM_PUBLIC_URL": "https://hub.example.org/services/podium/",
        "PODIUM_SECRET_KEY": os.environ["PODIUM_SECRET_KEY"],  # the same on every replica
        "PODIUM_QUEUE_TOKEN": os.environ["PODIUM_QUEUE_TOKEN"],  # the default queue's worker token
        # each compute queue on its own RabbitMQ vhost and user (the management plugin's API; its
        # admin defaults to PODIUM_BROKER_URL's user), and the broker's name as workers reach it
        "PODIUM_BROKER_MANAGEMENT_URL": "http://rabbitmq:15672",
        "PODIUM_WORKER_BROKER_HOST": "rabbitmq.example.org",
        # who else may create compute queues and attach workers (besides admins and creator_group):
        # "PODIUM_QUEUE_ORGANIZER_GROUP": "gpu-owners",
        "PODIUM_STORAGE": "s3",
        "PODIUM_S3_BUCKET": "podium-data",
        "PODIUM_S3_REGION": "eu-west-1",
        "PODIUM_S3_KEY_PREFIX": "hub-prod/",
        # credentials: boto3's usual chain (an instance role), or explicitly:
        # "PODIUM_S3_ACCESS_KEY_ID": os.environ["PODIUM_S3_ACCESS_KEY_ID"],
        # "PODIUM_S3_SECRET_ACCESS_KEY": os.environ["PODIUM_S3_SECRET_ACCESS_KEY"],
        # an S3-compatible server instead of AWS (clients must reach it too):
        # "PODIUM_S3_ENDPOINT_URL": "https://s3.example.org",
        # Azure Blob instead:
        # "PODIUM_STORAGE": "azure",
        # "PODIUM_AZURE_CONTAINER": "podium",
        # "PODIUM_AZURE_CONNECTION_STRING": os.environ["PODIUM_AZURE_CONNECTION_STRING"],
        # or Azure AD (managed or workload identity; user-delegation SAS, no account key):
        # "PODIUM_AZURE_ACCOUNT_URL": "https://myaccount.blob.core.windows.net",
        # "PODIUM_AZURE_CREDENTIAL": "azure_ad",
        # "PODIUM_AZURE_CLIENT_ID": "<user-assigned identity's client id>",  # if not system-assigned
    },
)
