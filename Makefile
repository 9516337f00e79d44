# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-degraded demo-slack test services browser install bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Runs the bundled example suite against the bundled demo target, then the Slack flow
# (demo-slack, below: about 4 s more), stopping everything each started.
demo: $(STAMP)
	$(BIN)/python -m demo $(DEMO_ARGS)
	$(BIN)/python -m demo.slack_flow

# The same, with one AI provider degraded: shows what a failing run looks like (exit 1).
demo-degraded: $(STAMP)
	$(BIN)/python -m demo --degrade openai $(DEMO_ARGS)

# The Slack flow without a workspace: the bot and a worker against the local PostgreSQL and
# Redis and a Slack emulator; /smoketest staging on a degraded target, Re-run failed once it
# recovered, the channel printed as text. `DEMO_ARGS=--keep` keeps it up for the run pages.
demo-slack: $(STAMP)
	$(BIN)/python -m demo.slack_flow $(DEMO_ARGS)

# Starts PostgreSQL and Redis when they are down (commands from DEVELOPERS.md).
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
	@for i in $$(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && exit 0; sleep 0.2; done; echo "PostgreSQL or Redis did not come up" >&2; exit 1

# Debian's Chromium when it is missing: the run pages' browser tests drive it with Playwright
# at /usr/bin/chromium (Playwright's own browser download cannot work here). Needs root.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	@command -v chromium >/dev/null 2>&1 || { echo "chromium did not install (apt-get install chromium, as root)" >&2; exit 1; }

# Two processes, one test file each at a time: most tests wait on servers, and a file's tests
# share their fixtures' set-up. pytest exits 5 when it collects nothing, so a run that tests
# nothing fails. `make test PYTEST_ARGS=...` runs them your way instead.
PYTEST_ARGS ?= -n 2 --dist loadfile
test: services browser $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
