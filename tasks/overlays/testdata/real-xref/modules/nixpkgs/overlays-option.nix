# The list every overlay file appends to, declared at the top level (not
# under flake.*): it is an internal accumulator, not a flake output.
{ lib, ... }:
{
  options.nixpkgsOverlays = lib.mkOption {
    type = lib.types.listOf lib.types.unspecified;
    default = [ ];
    internal = true;
    description = "nixpkgs overlays, composed by compose.nix";
  };
}
