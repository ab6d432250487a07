# christophersmith: primary user of argentum. The home identity of the user, wherever the inventory
# gives them an account (modules/clan/inventory/services/user-christophersmith.nix); the
# machine modules add the shared aggregates (core, ai) next to it.
{
  flake.modules.homeManager."users/christophersmith" =
    { lib, pkgs, ... }:
    {
      home.username = "christophersmith";
      home.homeDirectory = lib.mkDefault (
        if pkgs.stdenv.hostPlatform.isDarwin then "/Users/christophersmith" else "/home/christophersmith"
      );
      home.stateVersion = "25.05";
      programs.git.userName = lib.mkDefault "christophersmith";
    };
}
