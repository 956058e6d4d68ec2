# Shortcuts for scripts/dev.sh, which does the real work (see README.md).
#   make test ARGS="tests/customers -x"   passes ARGS on to pytest

.PHONY: run test stop shell

run:
	./scripts/dev.sh run

test:
	./scripts/dev.sh test $(ARGS)

stop:
	./scripts/dev.sh stop

shell:
	./scripts/dev.sh shell
