"""A competition's pages (overview, evaluation, terms, ...)."""

from __future__ import annotations

from ..competitions import authoring as domain
from ..orm import Competition
from ..request_bodies import PageIn, PageUpdate
from .answers import page_model
from .base import APIHandler, api


class PageListHandler(APIHandler):
    @api("List a competition's pages.", requires="view")
    async def get(self, competition: Competition) -> None:
        self.write_json({"pages": [page_model(p) for p in competition.pages]})

    @api("Add a page (organizers).", requires="manage", body=PageIn, status=201)
    async def post(self, competition: Competition) -> None:
        page = domain.add_page(self.db, competition, self.body)
        self.db.commit()
        self.write_json(page_model(page), 201)


class PageHandler(APIHandler):
    @api("Read a page.", requires="view")
    async def get(self, competition: Competition, page: str) -> None:
        self.write_json(page_model(domain.find_page(competition, page)))

    @api("Change a page (organizers).", requires="manage", body=PageUpdate)
    async def patch(self, competition: Competition, page: str) -> None:
        obj = domain.find_page(competition, page)
        domain.update_page(obj, self.body)
        self.db.commit()
        self.write_json(page_model(obj))

    @api("Delete a page (organizers).", requires="manage", status=204)
    async def delete(self, competition: Competition, page: str) -> None:
        competition.pages.remove(domain.find_page(competition, page))
        self.db.commit()
        self.set_status(204)
        self.finish()


default_handlers = [
    ("/competitions/{competition}/pages", PageListHandler),
    ("/competitions/{competition}/pages/{page}", PageHandler),
]
