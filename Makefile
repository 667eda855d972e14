# neutrino: the two set-up commands of the README.
.PHONY: run test lint

# Build and run the server with SQLite under ./.neutrino (admin password printed on first start).
run:
	scripts/run.sh

# Install what the tests need (PostgreSQL, the openstack CLI in a venv), then run every test.
test:
	scripts/test.sh

# Formatting and lints, as kept clean on main.
lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
