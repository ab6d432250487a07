# stibnite: nix-darwin laptop of crs58.
#
# Exported as flake.modules.darwin."machines/darwin/stibnite" and registered in
# modules/clan/machines.nix. Its system comes from modules/_fleet/machines.nix,
# its users from the inventory (modules/darwin/users.nix), its secrets from
# the vars generators (modules/system/vars.nix).
{ config, ... }:
let
  host = (import ../../../_fleet/machines.nix).stibnite;
  inherit (config.flake.modules) darwin;
in
{
  flake.modules.darwin."machines/darwin/stibnite" = {
    imports = [
      darwin.base
      darwin.users
      darwin.vars
    ];
    networking.hostName = "stibnite";
    nixpkgs.hostPlatform = host.system;
    system.stateVersion = 6;
  };
}
