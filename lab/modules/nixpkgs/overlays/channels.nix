# Layer 1: the lab's channels
#
# The lab is input-free: its "channels" are two builds of the same small
# package set (modules/nixpkgs/_eval.nix), versions 2.x (unstable) and
# 1.x (stable), handed in as the stand-in inputs nixpkgs and
# nixpkgs-stable. Exports pkgs.stable, pkgs.unstable, pkgs.nixpkgs.
#
# Layer: channels
{ inputs, lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 100 [
    (final: prev: {
      nixpkgs = import inputs.nixpkgs { inherit (prev) system; };
      unstable = import inputs.nixpkgs { inherit (prev) system; };
      stable = import inputs.nixpkgs-stable { inherit (prev) system; };
    })
  ];
}
