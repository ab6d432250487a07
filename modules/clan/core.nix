# clan-core's flake-parts module: clan.machines (the registry), clan.inventory
# (machines, service instances) and, from them, nixosConfigurations and
# darwinConfigurations. Machines are built by clan, never through specialArgs:
# every machine module reaches what it needs through flake.modules.* and the
# `inputs` of the flake-parts module that defines it.
{ inputs, ... }:
{
  imports = [ inputs.clan-core.flakeModules.default ];

  clan.meta.name = "vanixiets";
}
