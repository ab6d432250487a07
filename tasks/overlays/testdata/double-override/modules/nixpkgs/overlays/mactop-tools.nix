# Layer 5: external tweaks to mactop from the mactop-tools flake
{ lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 400 [
    (final: prev: {
      # mactop: add shell completions
      # Upstream: https://github.com/metaspartan/mactop/pull/70
      # TODO: Remove when mactop ships completions
      # Date added: 2026-11-06
      mactop = prev.mactop.overrideAttrs (old: { postInstall = "true"; });
    })
  ];
}
