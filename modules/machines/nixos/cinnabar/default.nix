# cinnabar: Hetzner VPS, permanent, the ZeroTier controller.
#
# Exported as flake.modules.nixos."machines/nixos/cinnabar" and registered in
# modules/clan/machines.nix. Its system comes from modules/_fleet/machines.nix,
# its accounts from the inventory (modules/nixos/users.nix), its secrets
# from the vars generators (modules/system/vars.nix).
{ config, ... }:
let
  host = (import ../../../_fleet/machines.nix).cinnabar;
  inherit (config.flake.modules) nixos;
in
{
  flake.modules.nixos."machines/nixos/cinnabar" = {
    imports = [
      nixos.core
      nixos.server
      nixos.users
      nixos.vars
      nixos."hardware/hetzner"
    ];
    networking.hostName = "cinnabar";
    nixpkgs.hostPlatform = host.system;
    system.stateVersion = "25.05";
  };
}
