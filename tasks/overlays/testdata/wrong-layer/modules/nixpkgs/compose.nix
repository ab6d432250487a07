# Composition of nixpkgsOverlays, custom packages last
{ config, lib, withSystem, ... }:
{
  flake.overlays.default =
    final: prev:
    let
      customPackages = withSystem prev.stdenv.hostPlatform.system ({ config, ... }: config.packages or { });
    in
    (lib.composeManyExtensions config.flake.nixpkgsOverlays final prev) // customPackages;
}
