# Part of the `core` home aggregate: sops-nix for user-level secrets (the
# legacy path next to clan vars). Each user's age key lives in the standard
# place; secrets/users/<user>.sops.yaml is added per user when there is one.
{ inputs, ... }:
{
  flake.modules.homeManager.core =
    { config, ... }:
    {
      imports = [ inputs.sops-nix.homeManagerModules.sops ];
      sops.age.keyFile = "${config.xdg.configHome}/sops/age/keys.txt";
    };
}
