# Layer 4: overrides whose set of attributes depends on a package's version
{ lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 300 [
    (final: prev: lib.optionalAttrs (lib.versionOlder prev.mactop.src.rev "1.0") {
      # mactop: tests write to $HOME
      # Upstream: https://github.com/metaspartan/mactop/issues/61
      # TODO: Remove when the test uses a temporary directory
      # Date added: 2026-11-02
      mactop = prev.mactop.overrideAttrs { doCheck = false; };
    })
  ];
}
