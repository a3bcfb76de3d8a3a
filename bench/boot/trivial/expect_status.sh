#!/bin/sh
# Runs a command and succeeds iff its exit status is the expected one (runner end-to-end tests).
# usage: expect_status.sh STATUS COMMAND [ARGS...]
expected=$1
shift
"$@"
actual=$?
if [ "$actual" -ne "$expected" ]; then
    echo "expect_status: '$*' exited $actual, expected $expected" >&2
    exit 1
fi
echo "expect_status: exit $actual as expected"
