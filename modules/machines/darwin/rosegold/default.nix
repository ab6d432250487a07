# rosegold: nix-darwin laptop of janettesmith.
#
# Exported as flake.modules.darwin."machines/darwin/rosegold" and registered in
# modules/clan/machines.nix. Its system comes from modules/_fleet/machines.nix,
# its users from the inventory (modules/darwin/users.nix), its secrets from
# the vars generators (modules/system/vars.nix).
{ config, ... }:
let
  host = (import ../../../_fleet/machines.nix).rosegold;
  inherit (config.flake.modules) darwin;
in
{
  flake.modules.darwin."machines/darwin/rosegold" = {
    imports = [
      darwin.base
      darwin.users
      darwin.vars
    ];
    networking.hostName = "rosegold";
    nixpkgs.hostPlatform = host.system;
    system.stateVersion = 6;
  };
}
