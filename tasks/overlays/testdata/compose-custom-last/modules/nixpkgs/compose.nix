# Composition with custom packages merged first: overlays override them
{ config, lib, withSystem, ... }:
{
  flake.overlays.default =
    final: prev:
    let
      customPackages = withSystem prev.stdenv.hostPlatform.system ({ config, ... }: config.packages or { });
    in
    customPackages // (lib.composeManyExtensions config.flake.nixpkgsOverlays final prev);
}
