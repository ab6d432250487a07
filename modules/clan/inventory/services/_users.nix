# Helper (not a module: the "_" keeps import-tree away): turns one user
# instance of modules/_fleet/instances.nix into a clan-core "users" service
# instance.
#
# The fleet data says settings = { user; admin; }. clan-core's users service
# knows user, groups, share and prompt, not admin: an admin is a member of
# "wheel" (sudo on NixOS; on nix-darwin the account is made an admin by
# modules/darwin/users.nix). The password is generated (prompt = false) and
# the same on every machine of the instance (share = true).
name:
let
  instance = (import ../../../_fleet/instances.nix).${name};
  toClan =
    role:
    role
    // {
      settings = {
        inherit (role.settings) user;
        groups = if role.settings.admin or false then [ "wheel" ] else [ ];
        share = true;
        prompt = false;
      };
    };
in
{
  module = {
    inherit (instance.module) name;
    input = "clan-core";
  };
  roles = builtins.mapAttrs (_: toClan) instance.roles;
}
