# The flake's systems and the flake.modules.<class>.<name> namespace.
#
# flake-parts' `modules` flake module declares flake.modules as an attribute
# set of deferred modules per class (nixos, darwin, homeManager, terranix,
# ...). Several files may define the same name (modules/home/ai/*.nix all
# define flake.modules.homeManager.ai): the definitions merge into one
# aggregate that machines import by name.
{ inputs, ... }:
{
  imports = [ inputs.flake-parts.flakeModules.modules ];

  # x86_64-linux: cinnabar, electrum, galena, scheelite
  # aarch64-darwin: stibnite, blackphos, argentum, rosegold
  systems = [
    "x86_64-linux"
    "aarch64-darwin"
  ];
}
