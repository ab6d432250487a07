# zellij: session resurrection crashes on a missing layout directory
#
# Upstream: https://github.com/zellij-org/zellij/pull/4102
# TODO: Remove when a release carrying the fix reaches nixpkgs
# Date added: 2026-11-05
#
# Linux only: stable-fallbacks.nix routes pkgs.zellij to the stable channel
# on aarch64-darwin, where this patch does not apply.
{ lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 300 [
    (
      final: prev:
      prev.lib.optionalAttrs prev.stdenv.hostPlatform.isLinux {
        zellij = prev.zellij.overrideAttrs (old: {
          patches = (old.patches or [ ]) ++ [
            (prev.fetchpatch {
              name = "resurrect-missing-layout.patch";
              url = "https://github.com/zellij-org/zellij/commit/0a1b2c3d4e5f.patch";
              hash = lib.fakeHash;
            })
          ];
        });
      }
    )
  ];
}
