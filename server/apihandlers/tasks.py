"""A competition's tasks: scoring and ingestion programs with their input and reference data."""

from __future__ import annotations

from ..competitions import authoring as domain
from ..orm import Competition, Task
from ..request_bodies import TaskIn, TaskUpdate
from .answers import task_model
from .base import APIHandler, api


class TaskListHandler(APIHandler):
    @api("List a competition's tasks (programs and data are shown to organizers only).", requires="view")
    async def get(self, competition: Competition) -> None:
        self.write_json({"tasks": [task_model(t, self.caller_roles) for t in competition.tasks]})

    @api("Add a task (organizers).", requires="manage", body=TaskIn, status=201)
    async def post(self, competition: Competition) -> None:
        task = domain.add_task(self.db, self.user, competition, self.body)
        self.db.commit()
        self.write_json(task_model(task, self.caller_roles), 201)


class TaskHandler(APIHandler):
    @api("Read a task.", requires="view")
    async def get(self, task: Task) -> None:
        self.write_json(task_model(task, self.caller_roles))

    @api("Change a task (organizers).", requires="manage", body=TaskUpdate)
    async def patch(self, task: Task) -> None:
        domain.update_task(self.db, self.user, task, self.body)
        self.db.commit()
        self.write_json(task_model(task, self.caller_roles))

    @api("Delete a task no phase uses (organizers).", requires="manage", status=204)
    async def delete(self, task: Task) -> None:
        domain.delete_task(self.db, task)
        self.db.commit()
        self.set_status(204)
        self.finish()


default_handlers = [
    ("/competitions/{competition}/tasks", TaskListHandler),
    ("/tasks/{task}", TaskHandler),
]
