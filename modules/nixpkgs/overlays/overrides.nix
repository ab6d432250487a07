# Layer 4: per-package build modifications
#
# overrideAttrs customizations for packages that build but misbehave: test
# disabling, flag changes, compilation fixes. Each builds on prev.<package>.
#
# Layer: overrides
#
# Every entry documents its symptom, the upstream issue or PR, its removal
# condition (TODO: Remove when ...) and its Date added.
{ lib, ... }:
{
  flake.nixpkgsOverlays = lib.mkOrder 300 [
    (final: prev: {
      # mactop: TestHeadlessIntegration writes to $HOME, read-only in the sandbox
      # Symptom: mkdir /homeless-shelter: read-only file system
      # Upstream: https://github.com/metaspartan/mactop/issues/61
      # TODO: Remove when upstream's test uses a temporary directory
      # Date added: 2026-10-20
      mactop = prev.mactop.overrideAttrs (old: {
        doCheck = false;
      });

      # bitwarden-cli: punycode deprecation warning on every run with Node 22+
      # Upstream: https://github.com/bitwarden/clients/issues/18741
      # TODO: Remove when upstream drops the punycode dependency
      # Date added: 2026-11-10
      bitwarden-cli = prev.bitwarden-cli.overrideAttrs (old: {
        nativeBuildInputs = (old.nativeBuildInputs or [ ]) ++ [ prev.makeWrapper ];
        postInstall = (old.postInstall or "") + ''
          wrapProgram $out/bin/bw --set NODE_OPTIONS "--no-deprecation"
        '';
      });
    })
  ];
}
