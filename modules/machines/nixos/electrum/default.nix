# electrum: Hetzner VPS, ephemeral (usually disabled in terranix).
#
# Exported as flake.modules.nixos."machines/nixos/electrum" and registered in
# modules/clan/machines.nix. Its system comes from modules/_fleet/machines.nix,
# its accounts from the inventory (modules/nixos/users.nix), its secrets
# from the vars generators (modules/system/vars.nix).
{ config, ... }:
let
  host = (import ../../../_fleet/machines.nix).electrum;
  inherit (config.flake.modules) nixos;
in
{
  flake.modules.nixos."machines/nixos/electrum" = {
    imports = [
      nixos.core
      nixos.server
      nixos.users
      nixos.vars
      nixos."hardware/hetzner"
    ];
    networking.hostName = "electrum";
    nixpkgs.hostPlatform = host.system;
    system.stateVersion = "25.05";
  };
}
