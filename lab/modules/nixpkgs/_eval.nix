# Input-free evaluation of the lab's overlay tree, the way flake-parts and
# nixpkgs would do it in the real fleet, with builtins only:
#
#   (import ./_eval.nix { system = "aarch64-darwin"; }).pkgs.greet.version
#
# - a base package set of small /bin/sh derivations (_inputs/channel.nix),
#   in two "channels" (unstable 2.x, stable 1.x), standing in for nixpkgs;
# - every overlays/*.nix module is called with a small lib, the stand-in
#   inputs and a config; their flake.nixpkgsOverlays lists are concatenated
#   by lib.mkOrder priority, then path order, as the module system does;
# - compose.nix's flake.overlays.default is applied to the base set as a
#   fixpoint; pkgs/by-name packages are its perSystem packages.
#
# Files starting with _ are not modules (import-tree skips them) and are not
# read by the overlay checker.
{ system ? "x86_64-linux" }:
let
  inherit (builtins) attrNames readDir filter map sort concatLists listToAttrs functionArgs intersectAttrs;

  systems = [ "x86_64-linux" "aarch64-darwin" ];
  inherit (base) lib;

  inputs = {
    nixpkgs = ./_inputs/nixpkgs.nix;
    nixpkgs-stable = ./_inputs/nixpkgs-stable.nix;
    lab-tools.overlays.default = import ./_inputs/lab-tools.nix;
  };

  base = import inputs.nixpkgs { inherit system; };

  byName = listToAttrs (map (n: { name = n; value = base.callPackage (import (./pkgs/by-name + "/${n}/package.nix")) { }; })
    (attrNames (readDir ./pkgs/by-name)));

  config = {
    inherit systems;
    flake.nixpkgsOverlays = overlays;
  };
  withSystem = _: f: f { config.packages = byName; };
  args = { inherit lib inputs config withSystem; };
  call = path: let m = import path; in m (intersectAttrs (functionArgs m) args);

  files = sort (a: b: a < b) (filter (n: builtins.match ".*\\.nix" n != null) (attrNames (readDir ./overlays)));
  defs = map (n: let d = (call (./overlays + "/${n}")).flake.nixpkgsOverlays; in
    if (d._type or "") == "order" then { p = d.priority; inherit n; l = d.content; } else { p = 1000; inherit n; l = d; }) files;
  ordered = sort (a: b: a.p < b.p || (a.p == b.p && a.n < b.n)) defs;
  overlays = concatLists (map (d: d.l) ordered);

  overlay = (call ./compose.nix).flake.overlays.default;
  pkgs = let fix = f: let x = f x; in x; in fix (final: base // overlay final base);
in
{
  inherit overlay pkgs overlays;
  order = map (d: d.n) ordered;
}
