# Layer 1: multi-channel nixpkgs access
#
# Exports to every later layer:
#   pkgs.stable    OS-specific stable nixpkgs (darwin or linux stable branch)
#   pkgs.unstable  explicit unstable nixpkgs (the flake's main input)
#   pkgs.patched   unstable with the upstream patches below applied
#   pkgs.nixpkgs   main unstable, for reference
#
# Layer: channels
#
# Patches: each entry names the upstream PR it carries, when to remove it
# and the date it was added. Reference a patched package from
# stable-fallbacks.nix with: inherit (final.patched) <package>;
{ inputs, lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 100 [
    (
      final: prev:
      let
        system = prev.stdenv.hostPlatform.system;
        nixpkgsConfig = {
          inherit system;
          config.allowUnfree = true;
        };
        patches = [
          # atuin: daemon socket path too long on darwin ($TMPDIR), sync hangs
          # PR: https://github.com/NixOS/nixpkgs/pull/367510
          # TODO: Remove when the PR reaches nixpkgs-unstable
          # Date added: 2026-10-28
          (prev.fetchpatch {
            name = "atuin-darwin-socket-path.patch";
            url = "https://github.com/NixOS/nixpkgs/pull/367510.patch";
            hash = "sha256-3Vq6oAqm9Y2UDbG9XMvf0gB0vI7f6Tt3rW8Dq2y5a1Q=";
          })
        ];
      in
      {
        nixpkgs = import inputs.nixpkgs nixpkgsConfig;
        unstable = import inputs.nixpkgs nixpkgsConfig;
        stable =
          if prev.stdenv.isDarwin then
            import inputs.nixpkgs-darwin-stable nixpkgsConfig
          else
            import inputs.nixpkgs-linux-stable nixpkgsConfig;
        patched = import (prev.applyPatches {
          name = "nixpkgs-patched";
          src = inputs.nixpkgs.outPath;
          inherit patches;
        }) nixpkgsConfig;
      }
    )
  ];
}
