# clan vars generators of every machine, from the plain declarations in
# modules/_fleet/generators.nix (`common` everywhere, `nixos` / `darwin` per
# class): SSH host key and its fingerprint, ZeroTier identity, and the
# servers' shared root password. `clan vars generate` (or the suite's
# vars:generate, which runs the same scripts without Nix) produces them;
# deployment installs them.
#
# Only the attributes the data declares are passed on, so clan's own
# defaults (secret, deploy, mode, neededFor) apply to the rest. macOS has no
# "root" group: on nix-darwin files default to group wheel, as in the fleet
# output.
let
  generators = import ../_fleet/generators.nix;

  forClass =
    class:
    { lib, pkgs, ... }:
    {
      clan.core.vars.generators = lib.mapAttrs (
        _: g:
        (removeAttrs g [ "validation" ])
        // {
          files = lib.mapAttrs (
            _: f: (lib.optionalAttrs (class == "darwin") { group = lib.mkDefault "wheel"; }) // f
          ) (g.files or { });
          runtimeInputs = [
            pkgs.coreutils
            pkgs.openssh
          ];
        }
        // lib.optionalAttrs (g ? validation) { inherit (g) validation; }
      ) (generators.common // (generators.${class} or { }));
    };
in
{
  flake.modules.nixos.vars = forClass "nixos";
  flake.modules.darwin.vars = forClass "darwin";
}
