# blackphos: nix-darwin laptop of raquel (crs58 administers it).
#
# Exported as flake.modules.darwin."machines/darwin/blackphos" and registered in
# modules/clan/machines.nix. Its system comes from modules/_fleet/machines.nix,
# its users from the inventory (modules/darwin/users.nix), its secrets from
# the vars generators (modules/system/vars.nix).
{ config, ... }:
let
  host = (import ../../../_fleet/machines.nix).blackphos;
  inherit (config.flake.modules) darwin;
in
{
  flake.modules.darwin."machines/darwin/blackphos" = {
    imports = [
      darwin.base
      darwin.users
      darwin.vars
    ];
    networking.hostName = "blackphos";
    nixpkgs.hostPlatform = host.system;
    system.stateVersion = 6;
  };
}
