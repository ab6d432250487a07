# Layer 1: channels (stable, unstable)
{ inputs, lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 100 [
    (final: prev: {
      stable = import inputs.nixpkgs-stable { inherit (prev) system; };
      unstable = import inputs.nixpkgs { inherit (prev) system; };
    })
  ];
}
