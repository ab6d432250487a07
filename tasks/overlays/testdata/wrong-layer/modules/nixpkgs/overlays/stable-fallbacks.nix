# Layer 2: stable fallbacks, holding an override by mistake
{ lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 200 [
    (final: prev: {
      # btop: crashes on start with the new ncurses
      # Upstream: https://github.com/aristocratos/btop/issues/999
      # TODO: Remove when btop 1.5 lands
      # Date added: 2026-11-05
      btop = prev.btop.overrideAttrs (old: { patches = [ ]; });
    })
  ];
}
