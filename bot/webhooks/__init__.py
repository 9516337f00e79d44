"""Deploy webhooks: one endpoint per source in the registry (`sources.py`: GitHub deployment
statuses, Argo CD notifications, a generic signed webhook), each delivery verified, parsed into
a DeployNotice (`notice.py`) and mapped to a smokebot environment; `routes.py` serves them.

Nothing is imported here: the registry is read by modules the routes themselves import
(settings, suites), so importing it must not pull in the web app.
"""
