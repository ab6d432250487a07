# Accounts and home environments on the nix-darwin laptops. clan's users
# service configures NixOS only, so on darwin this module declares the users
# fleetLib.usersOf <host> finds in the inventory (the same instances that
# give NixOS machines their accounts) and their home-manager configuration.
# The first administrator of the machine is nix-darwin's primary user.
{ config, inputs, ... }:
let
  inherit (config) fleetLib;
  hm = config.flake.modules.homeManager;
in
{
  flake.modules.darwin.users =
    { config, lib, ... }:
    let
      host = config.networking.hostName;
      users = fleetLib.usersOf host;
    in
    {
      imports = [ inputs.home-manager.darwinModules.home-manager ];
      users.users = lib.genAttrs users (user: {
        home = "/Users/${user}";
      });
      system.primaryUser = lib.mkDefault (builtins.head (fleetLib.adminsOf host ++ users));
      home-manager = {
        useGlobalPkgs = true;
        useUserPackages = true;
        users = lib.genAttrs users (user: {
          imports = [
            hm."users/${user}"
            hm.core
            hm.ai
          ];
        });
      };
    };
}
