"""A competition's tasks: scoring and ingestion programs with their input and reference data."""

from __future__ import annotations

from ..competitions import authoring as domain
from ..request_bodies import TaskIn, TaskUpdate
from .answers import task_model
from .base import APIHandler, api


class TaskListHandler(APIHandler):
    @api("List a competition's tasks (programs and data are shown to organizers only).")
    async def get(self, competition: str) -> None:
        comp, roles = self.visible_competition(competition)
        self.write_json({"tasks": [task_model(t, roles) for t in comp.tasks]})

    @api("Add a task (organizers).", body=TaskIn, status=201)
    async def post(self, competition: str) -> None:
        comp, roles = self.visible_competition(competition)
        roles.require_manage()
        task = domain.add_task(self.db, self.user, comp, self.body)
        self.db.commit()
        self.write_json(task_model(task, roles), 201)


class TaskHandler(APIHandler):
    @api("Read a task.")
    async def get(self, task: str) -> None:
        obj, roles = self.visible_task(task)
        self.write_json(task_model(obj, roles))

    @api("Change a task (organizers).", body=TaskUpdate)
    async def patch(self, task: str) -> None:
        obj, roles = self.visible_task(task)
        roles.require_manage()
        domain.update_task(self.db, self.user, obj, self.body)
        self.db.commit()
        self.write_json(task_model(obj, roles))

    @api("Delete a task no phase uses (organizers).", status=204)
    async def delete(self, task: str) -> None:
        obj, roles = self.visible_task(task)
        roles.require_manage()
        domain.delete_task(self.db, obj)
        self.db.commit()
        self.set_status(204)
        self.finish()


default_handlers = [
    ("/competitions/{competition}/tasks", TaskListHandler),
    ("/tasks/{task}", TaskHandler),
]
