# grove: a second fleet for the suite's tests, written against the flake
# contract alone (docs/fleet.md), unlike the lab in everything the contract
# leaves free: other machine names, users, tags and generators; cloud
# machines reached as a non-root user at a name that is not the machine's
# (targetHost "admin@ash.grove.test"); one cloud machine disabled. It is
# input-free, like lab/: its system closures are the lab's stand-ins
# (../../../lab/nix/system.nix), its terraform the lab's terranix shape,
# and its inventory is rendered by the same shape.nix the real fleet uses,
# so nothing here is a twin of those files. The suite must serve it with
# no code that knows its name.
#
# It declares itself a lab fleet (lab.identities): its admins' private
# keys are committed under keys/, TEST-ONLY, and the suite encrypts to
# them only because this fleet says so.
{
  description = "grove: a 13-machine test fleet (input-free)";

  outputs = { self }:
    let
      keys = {
        ops = [ "age1a4k6smuxusgaekd0vyekut6ev5l4m58je24phwrpagx3gyjkhs4qzm2crd" ];
        lee = [ "age1lp8dkn7ahzn3fhsyp9kk8hpl7e8va5eugmjl09txsrq0h62l2y0susl29v" ];
      };
      server = name: tags: extra: {
        machineClass = "nixos";
        system = "x86_64-linux";
        inherit tags;
        deploy.targetHost = "root@${name}.grove.test";
      } // extra;
      hetzner = enabled: type: {
        provider = "hetzner";
        inherit enabled;
        serverType = type;
        location = "hel1";
        image = "debian-12";
      };
      desk = user: name: {
        machineClass = "darwin";
        system = "aarch64-darwin";
        tags = [ "desk" ];
        deploy.targetHost = "${user}@${name}.local";
      };
      data = {
        machines = {
          # cloud servers: reached as "admin", at a DNS name, one disabled
          ash = server "ash" [ "edge" "cloud" ] { deploy.targetHost = "admin@ash.grove.test"; cloud = hetzner true "cax11"; };
          birch = server "birch" [ "edge" "cloud" ] { deploy.targetHost = "admin@birch.grove.test"; cloud = hetzner true "cax11"; };
          willow = server "willow" [ "edge" "cloud" ] { deploy.targetHost = "admin@willow.grove.test"; cloud = hetzner false "cax21"; };
          # servers on the premises
          oak = server "oak" [ "db" "core" ] { };
          elm = server "elm" [ "db" ] { };
          fir = server "fir" [ "web" ] { };
          pine = server "pine" [ "web" ] { };
          cedar = server "cedar" [ "web" "core" ] { };
          larch = server "larch" [ "batch" ] { };
          rowan = server "rowan" [ "batch" ] { };
          # desks (darwin), each reached as its user
          hazel = desk "lee" "hazel";
          juniper = desk "kim" "juniper";
          maple = desk "kim" "maple";
        };
        users = {
          ops = { description = "operations: admin everywhere"; ageKeys = keys.ops; };
          lee = { description = "admin of the desks"; ageKeys = keys.lee; };
          kim = { description = "user of two desks"; };
        };
        instances = {
          zerotier = {
            module.name = "zerotier";
            roles.controller.machines.oak = { };
            roles.peer.tags = { edge = { }; web = { }; db = { }; batch = { }; desk = { }; };
          };
          ops = {
            module.name = "users";
            roles.default = { tags.all = { }; settings = { user = "ops"; admin = true; }; };
          };
          lee = {
            module.name = "users";
            roles.default = { tags.desk = { }; settings = { user = "lee"; admin = true; }; };
          };
          kim = {
            module.name = "users";
            roles.default = { machines = { juniper = { }; maple = { }; }; settings = { user = "kim"; admin = false; }; };
          };
        };
        generators = {
          common.openssh = {
            files."ssh.id_ed25519" = { };
            files."ssh.id_ed25519.pub" = { secret = false; };
            script = ''ssh-keygen -q -t ed25519 -N "" -C "" -f "$out/ssh.id_ed25519"'';
          };
          nixos.db-password = {
            files."db-password" = { owner = "root"; group = "root"; mode = "0440"; };
            script = ''head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$out/db-password"'';
          };
        };
      };
      fleet = import ../../../modules/_fleet/shape.nix { inherit data; } // {
        lab.identities = [ "keys/lee.agekey" "keys/ops.agekey" ];
      };
      lib = import ../../../modules/_fleet/lib.nix { inherit fleet; };
      system = import ../../../lab/nix/system.nix { inherit fleet lib; };
      sshPublicKey = builtins.replaceStrings [ "\n" ] [ "" ] (builtins.readFile ./keys/deploy_ed25519.pub);
      terraformConfig = import ../../../lab/nix/terraform.nix { inherit fleet sshPublicKey; };
      configuration = m: {
        config.system.build.toplevel = system.toplevel m;
        system = system.toplevel m;
      };
    in
    {
      inherit fleet;
      nixosConfigurations = lib.genAttrs (lib.byClass "nixos") configuration;
      darwinConfigurations = lib.genAttrs (lib.byClass "darwin") configuration;
      packages.x86_64-linux.terraform = derivation {
        name = "config.tf.json";
        system = "x86_64-linux";
        builder = "/bin/sh";
        args = [ "-c" "cp \"$jsonPath\" \"$out\"" ];
        PATH = "/usr/bin:/bin";
        json = builtins.toJSON terraformConfig;
        passAsFile = [ "json" ];
      };
      checks.x86_64-linux = import ../../../lab/nix/checks.nix {
        inherit fleet lib system;
        terraform = terraformConfig;
      };
    };
}
