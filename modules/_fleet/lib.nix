# Queries over the rendered fleet, the Nix twin of tasks/fleet's helpers:
# which machines hold a role (names plus tags, "all" = every machine), which
# users have an account on a machine and who administers it. Builtins only.
{ fleet }:
let
  inherit (builtins) attrNames filter elem any concatMap listToAttrs;

  machineNames = attrNames fleet.machines;

  hasTag = m: tag: tag == "all" || elem tag (fleet.machines.${m}.tags or [ ]);

  roleMachines = role:
    let
      named = filter (m: fleet.machines ? ${m}) (attrNames role.machines);
      tagged = filter (m: any (hasTag m) (attrNames role.tags)) machineNames;
      all = named ++ tagged;
    in
    filter (m: elem m all) machineNames;

  machinesOf = instance: role:
    if fleet.instances ? ${instance} && fleet.instances.${instance}.roles ? ${role}
    then roleMachines fleet.instances.${instance}.roles.${role}
    else [ ];

  userInstances = filter (i: fleet.instances.${i}.module.name == "users") (attrNames fleet.instances);

  # [{ user, admin, machines }]
  assignments = concatMap
    (i:
      map
        (rn:
          let r = fleet.instances.${i}.roles.${rn}; in
          {
            user = r.settings.user or i;
            admin = r.settings.admin or false;
            machines = roleMachines r;
          })
        (attrNames fleet.instances.${i}.roles))
    userInstances;

  usersOf = m: map (a: a.user) (filter (a: elem m a.machines) assignments);
  adminsOf = m: map (a: a.user) (filter (a: a.admin && elem m a.machines) assignments);

  rolesOf = m: concatMap
    (i: map (r: "${i}/${r}") (filter (r: elem m (machinesOf i r)) (attrNames fleet.instances.${i}.roles)))
    (attrNames fleet.instances);
in
{
  inherit machineNames hasTag roleMachines machinesOf assignments usersOf adminsOf rolesOf;

  byClass = class: filter (m: fleet.machines.${m}.machineClass == class) machineNames;

  genAttrs = names: f: listToAttrs (map (n: { name = n; value = f n; }) names);
}
