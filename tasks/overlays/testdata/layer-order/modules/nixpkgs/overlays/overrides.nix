# Layer 4: overrides
{ lib, ... }:
{
  flake.nixpkgsOverlays = [
    (final: prev: {
      # mactop: tests write to $HOME
      # Upstream: https://github.com/metaspartan/mactop/issues/61
      # TODO: Remove when the test uses a temporary directory
      # Date added: 2026-11-02
      mactop = prev.mactop.overrideAttrs { doCheck = false; };
    })
  ];
}
