"""The Podium web pages, served at the service's prefix and logged in through the hub's OAuth.

``default_handlers`` is the route table (templates like the API's, relative to the prefix);
``podium.server.routes`` mounts it after the API. Modules: ``security`` (CSP, redirects, XSRF
tokens), ``login`` (the hub's OAuth login and its cookies), ``content`` (sanitizing organizer
pages), ``base`` (API verbs as pages), ``pages`` (GET pages), ``actions`` (form posts, the OAuth
callback, login, logout, static files), ``submit_form`` (the submission form's upload), ``classroom_pages`` (final selection, private board), ``admin`` (the admins' queue page and its re-key form).
"""

from __future__ import annotations

from .actions import (
    CancelAction,
    DecisionAction,
    InvitationAnswerAction,
    LoginHandler,
    LogoutHandler,
    OAuthCallback,
    RegisterAction,
    RerunAction,
    StaticHandler,
)
from .admin import QueueRekeyAction, QueuesPage
from .base import STATIC
from .classroom_pages import PrivateLeaderboardPage, SelectAction, SelectionPage
from .login import HubLogin
from .pages import (
    CompetitionPage,
    DatasetDownload,
    DetailedResultsPage,
    ExecutedNotebookDownload,
    HomePage,
    LeaderboardCsv,
    LeaderboardPage,
    MySubmissionsPage,
    ParticipantsPage,
    PhaseSubmissionsPage,
    SubmissionPage,
)
from .security import cookie_secret
from .submit_form import SubmitAction

__all__ = ["default_handlers", "cookie_secret", "HubLogin"]

default_handlers: list[tuple] = [
    ("/", HomePage),
    ("/login", LoginHandler),
    ("/logout", LogoutHandler),
    ("/oauth_callback", OAuthCallback),
    ("/static/{path:.+}", StaticHandler, {"path": str(STATIC)}),
    ("/competitions/{competition}", CompetitionPage),
    ("/competitions/{competition}/register", RegisterAction),
    ("/competitions/{competition}/participants", ParticipantsPage),
    ("/competitions/{competition}/participants/{username}/{decision:approve|deny}", DecisionAction),
    ("/competitions/{competition}/teams/{team_id}/{answer:accept|decline}", InvitationAnswerAction),
    ("/phases/{phase}/submit", SubmitAction),
    ("/phases/{phase}/leaderboard", LeaderboardPage),
    ("/phases/{phase}/leaderboard.csv", LeaderboardCsv),
    ("/phases/{phase}/submissions", PhaseSubmissionsPage),
    ("/phases/{phase}/selection", SelectionPage),
    ("/phases/{phase}/private-leaderboard", PrivateLeaderboardPage),
    ("/me/submissions", MySubmissionsPage),
    ("/submissions/{submission}", SubmissionPage),
    ("/submissions/{submission}/detailed_results", DetailedResultsPage),
    ("/submissions/{submission}/executed_notebook", ExecutedNotebookDownload),
    ("/submissions/{submission}/cancel", CancelAction),
    ("/submissions/{submission}/rerun", RerunAction),
    ("/submissions/{submission}/select", SelectAction),
    ("/datasets/{dataset}/download", DatasetDownload),
    ("/admin/queues", QueuesPage),
    ("/admin/queues/{queue}/token", QueueRekeyAction),
]
