# Part of the `core` home aggregate: git with the defaults every user shares;
# names and addresses come from modules/home/users/<user>.nix.
{
  flake.modules.homeManager.core = {
    programs.git = {
      enable = true;
      extraConfig = {
        init.defaultBranch = "main";
        pull.rebase = true;
      };
    };
  };
}
