#!/bin/sh
echo "remote_coverage_tools stand-in: bazel coverage is not supported offline (scripts/bazel/standins)" >&2
exit 1
