# Folds nixpkgsOverlays into flake.overlays.default; the by-name packages
# are merged last so nothing in an overlay can replace them by accident.
{ config, lib, withSystem, ... }:
{
  flake.overlays.default =
    final: prev:
    let
      layered = lib.composeManyExtensions config.nixpkgsOverlays;
      customPackages = withSystem prev.stdenv.hostPlatform.system ({ config, ... }: config.packages or { });
    in
    (layered final prev) // customPackages;
}
