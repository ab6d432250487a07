// Package overlays checks a fleet's five-layer nixpkgs overlay tree, the
// architecture that lets one broken package be fixed without rolling back
// the whole flake.lock:
//
//	channels -> stable-fallbacks -> overrides -> external -> custom packages
//
// Each file in modules/nixpkgs/overlays/ is a flake-parts module appending
// final: prev: overlays to flake.nixpkgsOverlays (or, in the user's own
// repository, a top-level nixpkgsOverlays); modules/nixpkgs/compose.nix
// composes that list with lib.composeManyExtensions and merges the
// pkgs/by-name packages last with //. Layer files hold many entries, each
// documented above itself; the user's tree also keeps one override per
// file, documented in the file's header (tree.go reads which shape a tree
// has, so that every fix speaks its spelling).
//
// Three readings of the same files, each doing what it is good at:
//
//   - Nix checks syntax (nix-instantiate --parse, Nix's own message and line).
//   - Nix evaluates each module against stand-ins (eval.nix: a small lib,
//     opaque flake inputs, a stand-in package set per system), which says
//     whether each list element is a two-argument overlay, its lib.mkOrder
//     priority, and which attributes it defines on which system, with
//     their lines (builtins.unsafeGetAttrPos). No network, no nixpkgs.
//   - A Go reading (lex.go, source.go) finds what evaluation cannot see:
//     the comment block documenting each entry, how each value is written
//     (a channel, a stable fallback, an override building on prev.<name>),
//     patches lists and system-string literals.
//
// Check is a pure function of the tree, the options and the clock; Step and
// CachedCheck wrap it as a pipeline step keyed by the tree's content, the
// checker Version, the options and the day, so an unchanged tree is a cache
// hit that starts no Nix process.
package overlays
