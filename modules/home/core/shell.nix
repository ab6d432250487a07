# Part of the `core` home aggregate: the shell and the custom package of
# Layer 3 (atuin-format, from modules/nixpkgs/pkgs/by-name through the
# composed overlay).
{
  flake.modules.homeManager.core =
    { pkgs, ... }:
    {
      programs.zsh.enable = true;
      programs.atuin.enable = true;
      programs.starship.enable = true;
      home.packages = [ pkgs.atuin-format ];
    };
}
