# shelltools flake overlay: nushell script packaging helpers
{ inputs, lib, ... }:
{
  nixpkgsOverlays = lib.mkOrder 400 [
    inputs.shelltools.overlays.default
  ];
}
