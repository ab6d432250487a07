# The account of raquel on the machines modules/_fleet/instances.nix gives it
# (instance user-raquel): clan-core's users service, settings translated by
# ./_users.nix. The user's home environment is modules/home/users/raquel.nix.
{
  clan.inventory.instances.user-raquel = import ./_users.nix "user-raquel";
}
