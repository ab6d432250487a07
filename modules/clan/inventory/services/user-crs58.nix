# The account of crs58 on the machines modules/_fleet/instances.nix gives it
# (instance user-crs58): clan-core's users service, settings translated by
# ./_users.nix. The user's home environment is modules/home/users/crs58.nix.
{
  clan.inventory.instances.user-crs58 = import ./_users.nix "user-crs58";
}
