# Layer 5: external overlay from the (stand-in) lab-tools flake input
#
# Adds lab-banner. The lab has no flake inputs: _eval.nix hands in
# inputs.lab-tools with the overlay in _inputs/lab-tools.nix.
#
# Layer: external
{ inputs, lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 400 [
    inputs.lab-tools.overlays.default
  ];
}
