"""Who is calling and what they may do: token identity (``identity``), the hub's REST client (``hubclient``), roles (``permissions``)."""
