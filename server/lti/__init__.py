"""Podium as an LTI 1.3 tool (with pylti1p3): a course links a competition and gets its grades.

``tool`` builds the tool's configuration from the service's traits (platforms, key); ``adapters``
fit pylti1p3 to Tornado (its request, cookies, and launch state kept in the database so any
replica serves a launch, with nonces used once); ``launches`` records who launched what;
``grades`` sends a phase's grades through Assignment and Grade Services; ``handlers`` are the
OIDC login, the launch, deep linking and the JWKS.
"""
