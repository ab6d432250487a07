# Layer 2: platform-specific stable fallbacks
#
# Selects a package from final.stable (or final.patched) when the unstable
# build is completely broken, for the affected platforms only, instead of
# rolling back the whole flake.lock.
#
# Layer: stable-fallbacks
#
# Every entry documents its symptom, the Hydra job showing the failure
# (https://hydra.nixos.org/job/nixpkgs/trunk/<package>.<system>), its
# removal condition (TODO: Remove when ...) and its Date added.
# Test: nix eval .#legacyPackages.<system>.<package>.name
{ lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 200 [
    (
      final: prev:
      {
        # Cross-platform stable fallbacks: none at the moment.
      }
      // prev.lib.optionalAttrs prev.stdenv.isDarwin {
        # lean4: not built by hydra for darwin, compiles from source (~9 min)
        # Hydra: https://hydra.nixos.org/job/nixpkgs/trunk/lean4.aarch64-darwin
        # TODO: Remove when hydra provides aarch64-darwin binaries again
        # Date added: 2026-10-02
        lean4 = final.stable.lean4;
      }
      // prev.lib.optionalAttrs prev.stdenv.isLinux {
        # zerotierone: 1.14.2 fails its test suite in the sandbox (cinnabar, galena)
        # Hydra: https://hydra.nixos.org/job/nixpkgs/trunk/zerotierone.x86_64-linux
        # TODO: Remove when zerotierone builds on nixos-unstable
        # Date added: 2026-11-03
        zerotierone = final.stable.zerotierone;
      }
    )
  ];
}
