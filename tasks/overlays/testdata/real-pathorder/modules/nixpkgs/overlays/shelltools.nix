# shelltools flake overlay: nushell script packaging helpers
{ inputs, lib, ... }:
{
  nixpkgsOverlays = [
    inputs.shelltools.overlays.default
  ];
}
