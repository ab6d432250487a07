# Layer 2: stable fallbacks
{ lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 200 [
    (
      final: prev:
      prev.lib.optionalAttrs prev.stdenv.isDarwin {
        # lean4: not built by hydra for darwin
        # Hydra: https://hydra.nixos.org/job/nixpkgs/trunk/lean4.aarch64-darwin
        # TODO: Remove when hydra builds it again
        # Date added: 2026-11-01
        lean4 = final.stable.lean4;
      }
    )
  ];
}
