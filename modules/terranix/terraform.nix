# packages.<system>.terraform: the rendered config.tf.json of the fleet's
# cloud machines (terranix.lib.terranixConfiguration over the base, hetzner
# and gcp modules). `go tool mage tf:render --flake .` builds it; terraform
# (driven by the suite's tf:plan / tf:apply) runs on the result.
{ config, inputs, ... }:
let
  terranixModules = with config.flake.modules.terranix; [
    base
    hetzner
    gcp
  ];
in
{
  perSystem =
    { system, ... }:
    {
      packages.terraform = inputs.terranix.lib.terranixConfiguration {
        inherit system;
        modules = terranixModules;
      };
    };
}
