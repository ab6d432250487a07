# delta: the pager test hangs without a tty
#
# Upstream: https://github.com/dandavison/delta/issues
# TODO: Remove when the test allocates a pty
# Date added: 2026-01-05
{ lib, ... }:
{
  nixpkgsOverlays = lib.mkOrder 300 [
    (final: prev: {
      delta = prev.delta.overrideAttrs (old: {
        doCheck = false;
      });
    })
  ];
}
