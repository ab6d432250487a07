# The account of cameron on the machines modules/_fleet/instances.nix gives it
# (instance user-cameron): clan-core's users service, settings translated by
# ./_users.nix. The user's home environment is modules/home/users/cameron.nix.
{
  clan.inventory.instances.user-cameron = import ./_users.nix "user-cameron";
}
