#!/usr/bin/env bash
# Start the local PostgreSQL and RabbitMQ the tests talk to, if they are not answering.
set -euo pipefail

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    echo "==> starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2; exit 1; }

if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
    echo "==> starting RabbitMQ"
    rabbitmq-server -detached || true
    for _ in $(seq 1 60); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 1; done
fi
(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null || { echo "RabbitMQ is not answering on 127.0.0.1:5672" >&2; exit 1; }

# the management HTTP API: the service makes a virtual host and a broker user per compute queue
# through it (server/compute/broker_accounts.py). Enabling a plugin is online and idempotent.
if ! curl -s -o /dev/null -u guest:guest http://127.0.0.1:15672/api/overview; then
    echo "==> enabling rabbitmq_management"
    rabbitmq-plugins enable rabbitmq_management >/dev/null
    for _ in $(seq 1 60); do curl -s -o /dev/null -u guest:guest http://127.0.0.1:15672/api/overview && break; sleep 1; done
fi
curl -s -o /dev/null -u guest:guest http://127.0.0.1:15672/api/overview \
    || { echo "RabbitMQ's management API is not answering on 127.0.0.1:15672" >&2; exit 1; }
