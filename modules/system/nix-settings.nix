# Nix and nixpkgs settings shared by every machine, NixOS and nix-darwin
# alike: one module value exported to both classes (flake.modules.nixos.core
# and flake.modules.darwin.base merge it with their class-specific parts).
#
# nixpkgs.overlays takes the composed five-layer overlay of
# modules/nixpkgs/compose.nix, reached through the flake's own outputs
# (inputs.self), not through specialArgs.
{ inputs, ... }:
let
  shared =
    { lib, ... }:
    {
      nixpkgs.overlays = [ inputs.self.overlays.default ];
      nixpkgs.config.allowUnfree = true;
      nix.settings = {
        experimental-features = [
          "nix-command"
          "flakes"
        ];
        trusted-users = [ "root" ];
      };
      nix.gc.automatic = lib.mkDefault true;
    };
in
{
  flake.modules.nixos.core = shared;
  flake.modules.darwin.base = shared;
}
