# perSystem nixpkgs with the composed overlays, and Layer 3 custom packages
#
# pkgs-by-name-for-flake-parts turns pkgs/by-name/<name>/package.nix into
# perSystem.packages.<name>; compose.nix merges those into
# flake.overlays.default last.
#
# Note for the flake's import-tree: package.nix files are callPackage
# functions, not flake-parts modules, so the import of ./modules must skip
# them: (inputs.import-tree.filterNot (lib.hasInfix "/pkgs/by-name/")) ./modules
{ inputs, config, ... }:
{
  imports = [ inputs.pkgs-by-name-for-flake-parts.flakeModule ];
  perSystem =
    { system, ... }:
    {
      _module.args.pkgs = import inputs.nixpkgs {
        inherit system;
        config.allowUnfree = true;
        overlays = config.flake.nixpkgsOverlays;
      };
      pkgsDirectory = ./pkgs/by-name;
    };
}
