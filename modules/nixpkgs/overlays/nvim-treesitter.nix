# Layer 5: external overlay from the nvim-treesitter-main flake
#
# Provides vimPlugins.nvim-treesitter on its main branch with grammars
# pre-compiled from upstream parsers.lua, so grammar and plugin versions
# stay aligned (vimPlugins.nvim-treesitter.withPlugins / withAllGrammars).
#
# Layer: external
{ inputs, lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 400 [
    inputs.nvim-treesitter-main.overlays.default
  ];
}
