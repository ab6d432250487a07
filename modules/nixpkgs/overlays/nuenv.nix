# Layer 5: external overlay from the nuenv flake
#
# Adds nushell script packaging to nixpkgs: nuenv.writeShellApplication,
# nuenv.writeScript, nuenv.mkNushellScript.
#
# Layer: external
{ inputs, lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 400 [
    inputs.nuenv.overlays.nuenv
  ];
}
