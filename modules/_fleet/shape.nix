# Renders the `fleet` output of the contract from the plain data in
# modules/_fleet: fills clan's defaults into every generator, file and prompt,
# attaches the generators to the machines (common + per class), and gives
# every role its three fields. No inputs, builtins only.
{ data }:
let
  inherit (builtins) mapAttrs;

  normFile = class: _: f:
    let secret = f.secret or true; in
    {
      inherit secret;
      deploy = true;
      owner = "root";
      # macOS has no "root" group: root's primary group is wheel
      group = if class == "darwin" then "wheel" else "root";
      mode = if secret then "0400" else "0444";
      neededFor = "services";
    } // f;

  normPrompt = _: p: { description = ""; type = "line"; persist = false; } // p;

  normGenerator = class: _: g: {
    files = mapAttrs (normFile class) (g.files or { });
    prompts = mapAttrs normPrompt (g.prompts or { });
    dependencies = g.dependencies or [ ];
    script = g.script;
    share = g.share or false;
    validation = g.validation or null;
  };

  generatorsFor = class:
    mapAttrs (normGenerator class) (data.generators.common // (data.generators.${class} or { }));

  normMachine = _: m: {
    inherit (m) machineClass system;
    tags = m.tags or [ ];
    description = m.description or "";
    deploy = {
      targetHost = m.deploy.targetHost or "";
      healthChecks = m.deploy.healthChecks or [ "test -e /run/current-system" ];
    } // (
      # "local" (build on the deployer, the default) or "target" (the
      # machine builds its own system from the copied derivations); only
      # rendered when a machine declares it.
      if m ? deploy && m.deploy ? buildOn then { inherit (m.deploy) buildOn; } else { }
    );
    cloud =
      if m ? cloud && m.cloud != null then
        { enabled = true; image = ""; } // m.cloud
      else null;
    generators = generatorsFor m.machineClass;
  };

  normRole = _: r: {
    machines = r.machines or { };
    tags = r.tags or { };
    settings = r.settings or { };
  };

  normInstance = _: i: {
    module = i.module;
    roles = mapAttrs normRole (i.roles or { });
  };
in
{
  machines = mapAttrs normMachine data.machines;
  instances = mapAttrs normInstance data.instances;
  users = mapAttrs (_: u: { description = u.description or ""; ageKeys = u.ageKeys or [ ]; }) data.users;
}
