"""A competition's pages (overview, evaluation, terms, ...)."""

from __future__ import annotations

from ..competitions import authoring as domain
from ..request_bodies import PageIn, PageUpdate
from .answers import page_model
from .base import APIHandler, api


class PageListHandler(APIHandler):
    @api("List a competition's pages.")
    async def get(self, competition: str) -> None:
        comp, _ = self.visible_competition(competition)
        self.write_json({"pages": [page_model(p) for p in comp.pages]})

    @api("Add a page (organizers).", body=PageIn, status=201)
    async def post(self, competition: str) -> None:
        comp, roles = self.visible_competition(competition)
        roles.require_manage()
        page = domain.add_page(self.db, comp, self.body)
        self.db.commit()
        self.write_json(page_model(page), 201)


class PageHandler(APIHandler):
    @api("Read a page.")
    async def get(self, competition: str, page: str) -> None:
        comp, _ = self.visible_competition(competition)
        self.write_json(page_model(domain.find_page(comp, page)))

    @api("Change a page (organizers).", body=PageUpdate)
    async def patch(self, competition: str, page: str) -> None:
        comp, roles = self.visible_competition(competition)
        roles.require_manage()
        obj = domain.find_page(comp, page)
        domain.update_page(obj, self.body)
        self.db.commit()
        self.write_json(page_model(obj))

    @api("Delete a page (organizers).", status=204)
    async def delete(self, competition: str, page: str) -> None:
        comp, roles = self.visible_competition(competition)
        roles.require_manage()
        comp.pages.remove(domain.find_page(comp, page))
        self.db.commit()
        self.set_status(204)
        self.finish()


default_handlers = [
    ("/competitions/{competition}/pages", PageListHandler),
    ("/competitions/{competition}/pages/{page}", PageHandler),
]
