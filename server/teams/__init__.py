"""Teams: participants who compete as one (one quota, one leaderboard row, shared submissions).

``membership`` says who is in which team and changes it (participants' invitations, organizers'
rosters); ``competitors`` is what the rest of the service asks: whose quota a submission uses,
whose leaderboard row it ranks in, and which submissions a member sees.
"""
