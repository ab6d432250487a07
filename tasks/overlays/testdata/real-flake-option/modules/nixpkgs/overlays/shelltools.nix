# shelltools flake overlay: nushell script packaging helpers
{ inputs, lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 400 [
    inputs.shelltools.overlays.default
  ];
}
