# Overlay composition for the lab: flake.overlays.default
#
# Same shape as the user's fleet: lib.composeManyExtensions over
# config.flake.nixpkgsOverlays (channels -> stable-fallbacks -> overrides ->
# external), then the custom packages of pkgs/by-name merged last with //.
{
  config,
  lib,
  withSystem,
  ...
}:
{
  flake.overlays.default =
    final: prev:
    let
      layers = lib.composeManyExtensions config.flake.nixpkgsOverlays;
      system = prev.stdenv.hostPlatform.system;
      customPackages = lib.optionalAttrs (lib.elem system config.systems) (
        withSystem system ({ config, ... }: config.packages or { })
      );
    in
    (layers final prev) // customPackages;
}
