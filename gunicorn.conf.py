"""Production settings for serving the app: ``gunicorn -c gunicorn.conf.py "smart_app:create_app()"``.

Timeouts agree with the app's: every page bounds all its FHIR calls together
by ``MBT_PAGE_BUDGET`` seconds (10 by default) and then shows its own error
page, so a worker is only killed well after that (``timeout``), never while
the app is still about to answer. Access log lines carry the path without its
query: a callback's ``code`` and ``state``, a launch id or a patient id never
reach a log. Run it behind HTTPS (a proxy on this host, which gunicorn trusts
for ``X-Forwarded-Proto``: the app then sends ``Strict-Transport-Security``).
"""

import multiprocessing
import os

_budget = float(os.environ.get("MBT_PAGE_BUDGET", "10"))

bind = os.environ.get("MBT_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() * 2 + 1)))
worker_class = "sync"
#: A page may spend its budget on FHIR calls and a token refresh, then render: kill only well after that.
timeout = int(2 * _budget + 10)
graceful_timeout = timeout
keepalive = 5
#: Requests larger than the app accepts are refused before they reach it.
limit_request_line = 8190
limit_request_fields = 100

accesslog = os.environ.get("MBT_ACCESS_LOG", "-")
errorlog = "-"
#: %(U)s is the path alone: never the query string (authorization codes, state, launch and patient ids).
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
#: Only the proxy on this host may say the original request was HTTPS.
forwarded_allow_ips = os.environ.get("MBT_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
