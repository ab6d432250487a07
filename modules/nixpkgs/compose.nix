# Overlay composition: flake.overlays.default
#
# Composes the flake.nixpkgsOverlays list (appended to by overlays/*.nix in
# layer order: channels -> stable-fallbacks -> overrides -> external) with
# lib.composeManyExtensions, then merges the custom packages of Layer 3
# (pkgs/by-name, exposed as perSystem.packages) last with //.
#
# Machines use it as: nixpkgs.overlays = [ inputs.self.overlays.default ];
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
      # Only for the flake's systems: nixpkgs re-applies overlays to nested
      # package sets (pkgsi686Linux) that have no perSystem packages.
      customPackages = lib.optionalAttrs (lib.elem system config.systems) (
        withSystem system ({ config, ... }: config.packages or { })
      );
    in
    (layers final prev) // customPackages;
}
