"""Names shared by the service and the workers: the Celery task and the broker queues."""

TASK_NAME = "podium.run_attempt"


def celery_queue(queue: str) -> str:
    """The broker queue a compute queue's workers consume."""
    return f"podium-{queue}"
