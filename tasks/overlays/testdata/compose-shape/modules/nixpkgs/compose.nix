# Composition that applies only the first overlay
{ config, lib, withSystem, ... }:
{
  flake.overlays.default =
    final: prev:
    let
      customPackages = withSystem prev.stdenv.hostPlatform.system ({ config, ... }: config.packages or { });
    in
    (builtins.head config.flake.nixpkgsOverlays final prev) // customPackages;
}
