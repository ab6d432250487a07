# janettesmith: primary user of rosegold. The home identity of the user, wherever the inventory
# gives them an account (modules/clan/inventory/services/user-janettesmith.nix); the
# machine modules add the shared aggregates (core, ai) next to it.
{
  flake.modules.homeManager."users/janettesmith" =
    { lib, pkgs, ... }:
    {
      home.username = "janettesmith";
      home.homeDirectory = lib.mkDefault (
        if pkgs.stdenv.hostPlatform.isDarwin then "/Users/janettesmith" else "/home/janettesmith"
      );
      home.stateVersion = "25.05";
      programs.git.userName = lib.mkDefault "janettesmith";
    };
}
