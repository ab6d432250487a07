# bat: the snapshot tests fail with the new syntaxes
#
# Upstream: https://github.com/sharkdp/bat/issues/3301
# TODO: Remove when the snapshots are regenerated upstream
# Date added: 2026-11-10
{ lib, ... }:
{
  nixpkgsOverlays = [
    (final: prev: {
      bat = prev.bat.overrideAttrs (old: {
        doCheck = false;
      });
    })
  ];
}
