# neutrino: the two set-up commands of the README.
.PHONY: run test lint

# Build and start the all-in-one (`neutrino up`: OVN, Open vSwitch, server, agent) under ./.neutrino.
run:
	scripts/run.sh

# Install what the tests need (PostgreSQL, the openstack CLI in a venv), then run every test.
test:
	scripts/test.sh

# Formatting and lints, as kept clean on main.
lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
