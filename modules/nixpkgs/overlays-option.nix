# Overlay list option: flake.nixpkgsOverlays
#
# Declares the list every file in overlays/ appends to. Without a list-typed
# option, flake-parts would treat two modules assigning
# flake.nixpkgsOverlays as a conflict instead of concatenating them.
#
# Order: the module system concatenates definitions by priority, then in
# import order (import-tree: path order, which is alphabetical and would put
# overrides.nix before stable-fallbacks.nix). Each layer file therefore
# wraps its list in lib.mkOrder with its layer's priority:
#   channels 100, stable-fallbacks 200, overrides 300, external 400.
# `go tool mage check:overlays` verifies the resulting order.
{ lib, flake-parts-lib, ... }:
{
  options.flake = flake-parts-lib.mkSubmoduleOptions {
    nixpkgsOverlays = lib.mkOption {
      type = lib.types.listOf lib.types.unspecified;
      default = [ ];
      description = ''
        nixpkgs overlays (final: prev: { ... }), composed in list order by
        modules/nixpkgs/compose.nix with lib.composeManyExtensions.
      '';
    };
  };
}
