"""Stand-in for rules_cc: re-exports Bazel 4's native C++ rules.

Bazel's built-in WORKSPACE suffix loads @rules_cc//cc:defs.bzl from
@bazel_tools; the real rules_cc would be downloaded. These are the same
native rules the real file wraps.
"""

cc_binary = native.cc_binary
cc_library = native.cc_library
cc_test = native.cc_test
cc_import = native.cc_import
cc_proto_library = native.cc_proto_library
cc_toolchain = native.cc_toolchain
cc_toolchain_suite = native.cc_toolchain_suite
objc_library = native.objc_library
objc_import = native.objc_import
fdo_profile = native.fdo_profile
fdo_prefetch_hints = native.fdo_prefetch_hints
